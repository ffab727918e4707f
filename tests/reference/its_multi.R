# Pooled multi-unit ITS: unit intercepts and trends, common shock, programme level and
# slope from each unit's own start; Driscoll–Kraay standard errors.
# Run: Rscript tests/reference/its_multi.R > tests/reference/its_multi.json
# Packages (Debian): r-cran-sandwich.
suppressPackageStartupMessages(library(sandwich))
d <- read.csv("tests/reference/its_multi.csv")
d$covid <- as.numeric(d$t >= 20); d$covid_s <- ifelse(d$t >= 20, d$t - 20, 0)
d$level <- as.numeric(d$t >= d$start); d$slope <- ifelse(d$t >= d$start, d$t - d$start, 0)
m <- lm(y ~ 0 + factor(unit) + factor(unit):t + covid + covid_s + level + slope, data = d)
terms <- c("level", "slope", "covid", "covid_s")
dk <- sqrt(diag(vcovPL(m, cluster = ~ unit, order.by = ~ t, lag = 3, adjust = FALSE,
                       aggregate = TRUE, kernel = "Bartlett")))[terms]
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
cat(sprintf('{"sandwich": "%s", "terms": ["level:programme", "slope:programme", "level:covid", "slope:covid"], "coef": [%s], "dk_se_lag3": [%s]}\n',
  packageVersion("sandwich"), fmt(coef(m)[terms]), fmt(dk)))
