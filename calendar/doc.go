// Package calendar is the working calendar that ticket deadlines are counted on.
//
// A department's time limit (时限) for a ticket is set in working days or working
// hours: a case dispatched before the Spring Festival is not late because the
// department was on holiday. Urgent cases (a burst water main, a trapped lift) get
// limits on the clock instead, because the citizen's trouble does not wait for
// office hours. A Limit carries its unit, so both kinds live in one configuration
// field ("5wd", "4wh", "2h") and Calendar.Add turns either into a deadline.
//
// Which days are working days is not a weekday rule in China: the State Council
// publishes each November the statutory days off for the next year and the weekend
// days worked in exchange (调休). That schedule is data, in the embedded
// holidays-cn.yaml, so that adding a year never needs a code change; ParseHolidays
// and Holidays.Merge let a deployment add a year or correct one before the binary
// is rebuilt. For a year the data does not cover the calendar falls back to
// weekends only, says so through Covered, and logs one warning per year, so that a
// missing schedule is noticed in November and not after the first wrong deadline.
//
// WorkingDuration measures the other way round, working time elapsed between two
// instants, for on-time rates (按期办结率) and for how long a case really waited.
package calendar
