# Comparative ITS with seasonal terms shared by both series (not interacted with the
# treated indicator), pooled OLS with Driscoll–Kraay standard errors.
# Run: Rscript tests/reference/its_comparative_shared.R > tests/reference/its_comparative_shared.json
# Packages (Debian): r-cran-sandwich.
suppressPackageStartupMessages(library(sandwich))
d <- read.csv("tests/reference/its_comparative.csv")
d$G <- as.numeric(d$g == "treated")
d$covid <- as.numeric(d$t >= 30); d$covid_s <- ifelse(d$t >= 30, d$t - 30, 0)
d$level <- as.numeric(d$t >= 60); d$slope <- ifelse(d$t >= 60, d$t - 60, 0)
d$s1 <- sin(2 * pi * d$month / 12); d$c1 <- cos(2 * pi * d$month / 12)
d$season <- factor(d$month)
terms <- c("level:G", "slope:G", "level", "slope")
fits <- list(
  fourier = lm(y ~ (t + covid + covid_s + level + slope) * G + s1 + c1, data = d),
  dummies = lm(y ~ (t + covid + covid_s + level + slope) * G + season, data = d))
dk <- function(m, L) sqrt(diag(vcovPL(m, cluster = ~ g, order.by = ~ t, lag = L, adjust = FALSE,
                                      aggregate = TRUE, kernel = "Bartlett")))[terms]
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
one <- function(k) sprintf('"%s": {"coef": [%s], "dk_se_lag3": [%s], "classical_se": [%s]}', k,
  fmt(coef(fits[[k]])[terms]), fmt(dk(fits[[k]], 3)), fmt(sqrt(diag(vcov(fits[[k]])))[terms]))
cat(sprintf('{"sandwich": "%s", "terms": ["treated:level:programme", "treated:slope:programme", "level:programme", "slope:programme"], %s, %s}\n',
  packageVersion("sandwich"), one("fourier"), one("dummies")))
