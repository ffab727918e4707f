# Reference covariances for TWFE on tests/reference/twfe_panel.csv.
# Run: Rscript tests/reference/twfe_covariances.R > tests/reference/twfe_covariances.json
# Packages (Debian): r-cran-sandwich, r-cran-clubsandwich.
suppressPackageStartupMessages({library(sandwich); library(clubSandwich)})
d <- read.csv("tests/reference/twfe_panel.csv")
fmt <- function(x) sprintf("%.15e", x)
out <- list()
add <- function(name, fit, V, df = NULL) {
  b <- coef(fit)[c("D", "x")]
  se <- sqrt(diag(V)[c("D", "x")])
  s <- sprintf('"%s": {"estimate": [%s], "std_error": [%s]%s}', name,
               paste(fmt(b), collapse = ", "), paste(fmt(se), collapse = ", "),
               if (is.null(df)) "" else sprintf(', "df": [%s]', paste(fmt(df), collapse = ", ")))
  out[[length(out) + 1]] <<- s
}
m <- lm(y ~ D + x + factor(unit) + factor(time), data = d)
add("iid", m, vcov(m))
add("HC1", m, vcovHC(m, type = "HC1"))
add("CR0_unit", m, vcovCL(m, cluster = ~unit, type = "HC0", cadjust = FALSE))
add("CR1_unit", m, vcovCL(m, cluster = ~unit, type = "HC1"))
add("CR1_area", m, vcovCL(m, cluster = ~area, type = "HC1"))
cr2 <- vcovCR(m, cluster = d$unit, type = "CR2")
ct <- coef_test(m, vcov = cr2, test = "Satterthwaite", coefs = c("D", "x"))
add("CR2_unit", m, as.matrix(cr2), ct$df_Satt)
cr2a <- vcovCR(m, cluster = d$area, type = "CR2")
cta <- coef_test(m, vcov = cr2a, test = "Satterthwaite", coefs = c("D", "x"))
add("CR2_area", m, as.matrix(cr2a), cta$df_Satt)
mw <- lm(y ~ D + x + factor(unit) + factor(time), data = d, weights = w)
add("CR1_unit_weighted", mw, vcovCL(mw, cluster = ~unit, type = "HC1"))
cr2w <- vcovCR(mw, cluster = d$unit, type = "CR2")
ctw <- coef_test(mw, vcov = cr2w, test = "Satterthwaite", coefs = c("D", "x"))
add("CR2_unit_weighted", mw, as.matrix(cr2w), ctw$df_Satt)
cr2wa <- vcovCR(mw, cluster = d$area, type = "CR2")
ctwa <- coef_test(mw, vcov = cr2wa, test = "Satterthwaite", coefs = c("D", "x"))
add("CR2_area_weighted", mw, as.matrix(cr2wa), ctwa$df_Satt)
# 2x2 on the rows of periods 8 and 9 (pre and post for the first cohort)
d2 <- d[d$time %in% c(8, 9) & (d$unit <= 5 | d$unit > 8), ]
d2$G <- as.integer(d2$unit <= 5); d2$P <- as.integer(d2$time == 9)
m2 <- lm(y ~ G * P, data = d2)
V2 <- vcovCL(m2, cluster = ~unit, type = "HC1")
out[[length(out) + 1]] <- sprintf('"did2x2_CR1_unit": {"estimate": [%s], "std_error": [%s]}',
  fmt(coef(m2)[["G:P"]]), fmt(sqrt(V2["G:P", "G:P"])))
cat("{\n", sprintf('"R": "%s", "sandwich": "%s", "clubSandwich": "%s",\n', R.version.string,
  packageVersion("sandwich"), packageVersion("clubSandwich")), paste(out, collapse = ",\n"), "\n}\n")
