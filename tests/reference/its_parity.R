# Parity options of the segmented regression, on tests/reference/its_series.csv:
# sandwich::NeweyWest(adjust = TRUE) and nlme::gls(method = "ML") with AR(1) and AR(2) errors.
# Run: Rscript tests/reference/its_parity.R > tests/reference/its_parity.json
# Packages (Debian): r-cran-sandwich, r-cran-nlme.
suppressPackageStartupMessages({library(sandwich); library(nlme)})
d <- read.csv("tests/reference/its_series.csv")
d$s1 <- sin(2 * pi * d$month / 12); d$c1 <- cos(2 * pi * d$month / 12)
m <- lm(y ~ t + level + slope + s1 + c1, data = d)
terms <- c("(Intercept)", "t", "level", "slope", "s1", "c1")
nwa <- function(L) sqrt(diag(NeweyWest(m, lag = L, prewhite = FALSE, adjust = TRUE)))[terms]
g <- gls(y ~ t + level + slope + s1 + c1, data = d, correlation = corAR1(form = ~ t), method = "ML")
phi <- coef(g$modelStruct$corStruct, unconstrained = FALSE)
g2 <- gls(y ~ t + level + slope + s1 + c1, data = d, correlation = corARMA(p = 2, form = ~ t), method = "ML")
phi2 <- coef(g2$modelStruct$corStruct, unconstrained = FALSE)
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
cat(sprintf('{"R": "%s", "sandwich": "%s", "nlme": "%s", "nw_adjust_se_lag3": [%s], "gls_ml": [%s], "gls_ml_se": [%s], "phi_ml": %.15e, "sigma_ml": %.15e, "gls_ml_ar2": [%s], "gls_ml_ar2_se": [%s], "phi_ml_ar2": [%s], "sigma_ml_ar2": %.15e}\n',
  getRversion(), packageVersion("sandwich"), packageVersion("nlme"), fmt(nwa(3)),
  fmt(coef(g)[terms]), fmt(sqrt(diag(vcov(g)))[terms]), phi, g$sigma,
  fmt(coef(g2)[terms]), fmt(sqrt(diag(vcov(g2)))[terms]), fmt(phi2), g2$sigma))
