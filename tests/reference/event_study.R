# Reference TWFE event study on tests/reference/twfe_panel.csv (lm with dummies, sandwich CR1).
# Run: Rscript tests/reference/event_study.R > tests/reference/event_study.json
suppressPackageStartupMessages(library(sandwich))
d <- read.csv("tests/reference/twfe_panel.csv")
first <- c(rep(9, 5), rep(12, 3), rep(0, 35))
d$g <- first[d$unit]
d$e <- ifelse(d$g > 0, d$time - d$g, NA)
d$eb <- pmin(pmax(d$e, -3), 3)  # binned endpoints, window [-3, 3]
for (k in c(-3, -2, 0, 1, 2, 3)) {
  nm <- paste0("ev", ifelse(k < 0, paste0("m", -k), paste0("p", k)))
  d[[nm]] <- as.numeric(!is.na(d$eb) & d$eb == k)
}
m <- lm(y ~ evm3 + evm2 + evp0 + evp1 + evp2 + evp3 + x + factor(unit) + factor(time), data = d)
V <- vcovCL(m, cluster = ~unit, type = "HC1")
terms <- c("evm3", "evm2", "evp0", "evp1", "evp2", "evp3")
b <- coef(m)[terms]; se <- sqrt(diag(V)[terms])
W <- as.numeric(t(b[1:2]) %*% solve(V[terms[1:2], terms[1:2]]) %*% b[1:2]) / 2
fmt <- function(x) paste(sprintf("%.15e", x), collapse = ", ")
cat(sprintf('{"sandwich": "%s", "estimate": [%s], "std_error": [%s], "pretrend_F": %.15e}\n',
            packageVersion("sandwich"), fmt(b), fmt(se), W))
