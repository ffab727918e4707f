# Driscoll–Kraay (panel Newey–West on per-period scores) for the pooled comparative ITS.
# Run: Rscript tests/reference/its_comparative.R > tests/reference/its_comparative.json
# Packages (Debian): r-cran-sandwich.
suppressPackageStartupMessages(library(sandwich))
d <- read.csv("tests/reference/its_comparative.csv")
d$G <- as.numeric(d$g == "treated")
d$covid <- as.numeric(d$t >= 30); d$covid_s <- ifelse(d$t >= 30, d$t - 30, 0)
d$level <- as.numeric(d$t >= 60); d$slope <- ifelse(d$t >= 60, d$t - 60, 0)
d$s1 <- sin(2 * pi * d$month / 12); d$c1 <- cos(2 * pi * d$month / 12)
m <- lm(y ~ (t + covid + covid_s + level + slope + s1 + c1) * G, data = d)
terms <- c("level:G", "slope:G", "level", "slope")
dk <- function(L) sqrt(diag(vcovPL(m, cluster = ~ g, order.by = ~ t, lag = L, adjust = FALSE,
                                   aggregate = TRUE, kernel = "Bartlett")))[terms]
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
cat(sprintf('{"sandwich": "%s", "terms": ["treated:level:programme", "treated:slope:programme", "level:programme", "slope:programme"], "coef": [%s], "dk_se_lag3": [%s], "dk_se_lag5": [%s]}\n',
  packageVersion("sandwich"), fmt(coef(m)[terms]), fmt(dk(3)), fmt(dk(5))))
