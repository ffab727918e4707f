# Reference values for soteria_eval.did.stacked_dose_did (tests/did/test_dose.py).
# Builds a panel with a continuous, staggered dose, stacks the clean 2x2 blocks
# independently of the package, and fits lm(dy ~ dose + factor(block)) with
# clubSandwich CR2 (Satterthwaite df) and sandwich CR1 (vcovCL, HC1) by unit.
# Run: Rscript tests/reference/dose_stacked.R   (writes dose_panel.csv and dose_stacked.json)
suppressMessages({library(sandwich); library(clubSandwich); library(jsonlite)})
set.seed(20261129)
units <- sprintf("A%02d", 1:14); periods <- 1:22
start <- c(8, 8, 8, 8, 15, 15, rep(NA, 8))
dose0 <- c(0.25, 1/3, 1, 0.5, 2/3, 0.25, rep(0, 8))
p <- expand.grid(period = periods, unit = units, stringsAsFactors = FALSE)
p$dose <- 0
for (i in seq_along(units)) if (!is.na(start[i])) {
  on <- p$unit == units[i] & p$period >= start[i]
  p$dose[on] <- dose0[i]
}
p$dose[p$unit == "A01" & p$period >= 18] <- 1  # a dose that rises later
ue <- setNames(rnorm(14), units); te <- rnorm(22)
p$y <- ue[p$unit] + te[p$period] + 0.05 * p$period * (p$unit %in% units[1:3]) +
  3 * p$dose + rnorm(nrow(p), sd = 0.7)
p$y[p$unit == "A09" & p$period == 17] <- NA  # a missing outcome in a control
write.csv(p[, c("unit", "period", "dose", "y")], "dose_panel.csv", row.names = FALSE)

first <- sapply(units, function(u) { d <- p[p$unit == u, ]; d <- d[order(d$period), ]
  if (any(d$dose > 0)) d$period[which(d$dose > 0)[1]] else Inf })
Y <- function(u, t) p$y[p$unit == u & p$period == t]
D <- function(u, t) p$dose[p$unit == u & p$period == t]
# base = "previous": the period before the start; "pre_mean": the unit's pre-start mean
Base <- function(u, g, base) if (base == "previous") Y(u, g - 1) else
  mean(p$y[p$unit == u & p$period < g], na.rm = TRUE)
fit_base <- function(base) {
  rows <- list(); dropped <- 0
  for (g in sort(unique(first[is.finite(first)]))) for (t in periods[periods >= g]) {
    ctrl <- units[first > t]; if (!length(ctrl)) next
    for (u in c(units[first == g], ctrl)) {
      dy <- Y(u, t) - Base(u, g, base)
      if (is.na(dy)) { dropped <- dropped + 1; next }
      rows[[length(rows) + 1]] <- data.frame(block = paste(g, t), unit = u, dy = dy, dose = D(u, t))
    }
  }
  s <- do.call(rbind, rows)
  fit <- lm(dy ~ dose + factor(block), data = s)
  cr2 <- coef_test(fit, vcov = "CR2", cluster = s$unit, test = "Satterthwaite", coefs = "dose")
  cr1 <- sqrt(vcovCL(fit, cluster = ~unit, type = "HC1")["dose", "dose"])
  list(estimate = unname(coef(fit)["dose"]), se_cr2 = cr2$SE, df_cr2 = cr2$df_Satt,
       se_cr1 = cr1, n_rows = nrow(s), n_blocks = length(unique(s$block)), n_dropped = dropped)
}
out <- c(fit_base("previous"), list(pre_mean = fit_base("pre_mean")),
         list(r_version = R.version.string,
              clubSandwich = as.character(packageVersion("clubSandwich")),
              sandwich = as.character(packageVersion("sandwich"))))
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "dose_stacked.json")
print(out)
