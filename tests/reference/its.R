# Reference ITS fits on tests/reference/its_series.csv.
# Run: Rscript tests/reference/its.R > tests/reference/its.json
# Packages (Debian): r-cran-sandwich, r-cran-nlme.
suppressPackageStartupMessages({library(sandwich); library(nlme)})
d <- read.csv("tests/reference/its_series.csv")
d$s1 <- sin(2 * pi * d$month / 12); d$c1 <- cos(2 * pi * d$month / 12)
m <- lm(y ~ t + level + slope + s1 + c1, data = d)
terms <- c("(Intercept)", "t", "level", "slope", "s1", "c1")
nw <- function(L) sqrt(diag(NeweyWest(m, lag = L, prewhite = FALSE)))[terms]
g <- gls(y ~ t + level + slope + s1 + c1, data = d, correlation = corAR1(form = ~ t), method = "REML")
phi <- coef(g$modelStruct$corStruct, unconstrained = FALSE)
g2 <- gls(y ~ t + level + slope + s1 + c1, data = d, correlation = corARMA(p = 2, form = ~ t), method = "REML")
phi2 <- coef(g2$modelStruct$corStruct, unconstrained = FALSE)
X <- model.matrix(m)
a <- arima(d$y, order = c(1, 0, 0), xreg = X, include.mean = FALSE, method = "ML",
           optim.control = list(reltol = 1e-12, maxit = 2000))
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
cat(sprintf('{"sandwich": "%s", "nlme": "%s", "ols": [%s], "nw_se_lag3": [%s], "nw_se_lag6": [%s], "gls": [%s], "gls_se": [%s], "phi": %.15e, "sigma": %.15e, "gls_ar2": [%s], "gls_ar2_se": [%s], "phi_ar2": [%s], "sigma_ar2": %.15e, "arima_ar1": [%s], "arima_ar1_se": [%s], "arima_phi": %.15e, "arima_sigma2": %.15e}\n',
  packageVersion("sandwich"), packageVersion("nlme"), fmt(coef(m)[terms]), fmt(nw(3)), fmt(nw(6)),
  fmt(coef(g)[terms]), fmt(sqrt(diag(vcov(g)))[terms]), phi, g$sigma,
  fmt(coef(g2)[terms]), fmt(sqrt(diag(vcov(g2)))[terms]), fmt(phi2), g2$sigma,
  fmt(coef(a)[terms]), fmt(sqrt(diag(a$var.coef))[terms]), coef(a)[["ar1"]], a$sigma2))
