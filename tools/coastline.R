# Prints the coastline of the `map` template (templates/map.svg) as SVG
# path data, from Natural Earth's 1:50m coastline (public domain), as
# Debian's r-cran-rnaturalearthdata ships it:
#   apt-get install r-base-core r-cran-rnaturalearthdata
#   Rscript tools/coastline.R
# The projection must match the template's: x = 20 + (lon + 122.85) * 331.2,
# y = 56 + (37.84 - lat) * 416.7 (equirectangular, scaled by cos 37.35°).
suppressMessages(library(sp))
e <- new.env()
invisible(lazyLoad("/usr/lib/R/site-library/rnaturalearthdata/data/Rdata", envir = e))
for (lines in e$coastline50@lines) {
  for (l in lines@Lines) {
    c <- l@coords
    inside <- c[, 1] > -123 & c[, 1] < -121.7 & c[, 2] > 36.7 & c[, 2] < 38
    if (!any(inside)) next
    idx <- which(inside)
    c <- c[max(1, min(idx) - 1):min(nrow(c), max(idx) + 1), ]
    x <- round(20 + (c[, 1] + 122.85) * 331.2, 1)
    y <- round(56 + (37.84 - c[, 2]) * 416.7, 1)
    cat(paste0(c("M", rep("L", length(x) - 1)), x, " ", y, collapse = " "), "\n")
  }
}
