// Package open311 serves the Open311 GeoReport v2 API under /open311/v2/, so that
// existing Open311 apps can report to the city and follow their reports.
//
// The city's ticket categories are its services: every active category without
// sub-categories, grouped under its top-level category. A service whose category (or an
// ancestor) names a default department is routed by category alone and has no
// attributes. A service without one is routed by place — to the banner/district
// government of the area (兜底) — so its definition asks for the banner/district (a
// required single-value list) and the township or street (optional).
//
// Ticket statuses map to open (registered, dispatched, handling, replied, returned) and
// closed (completed, refused, merged); status_notes tell the latest public step of the
// timeline, or the result once closed. Posting needs an api_key: an integrator token
// (rxn_…) or a key from the configuration. media_url is kept as a link in the
// registration note and not fetched: fetching addresses chosen by a remote client would
// let it make this server call into the city's internal network.
//
// Reading is public, as the specification intends, but lists only tickets of the
// configured public channels (by default those that came in through Open311 itself), and
// never shows the citizen's name or phone; mobile numbers in descriptions are masked.
package open311
