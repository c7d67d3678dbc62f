/* benchstats.h -- the clock and the statistics of the bench programs.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#ifndef ATOMICUTILS_BENCHSTATS_H
#define ATOMICUTILS_BENCHSTATS_H

/* The monotonic clock, in microseconds.  */
double now_us (void);

/* Sort the N VALUES, then return their median (of an even number, the
   mean of the middle two).  */
double median (double *values, int n);

/* The value below which FRACTION of the N VALUES lie, VALUES sorted
   (by median).  */
double quantile (double const *values, int n, double fraction);

#endif
