// Package phone parses and masks the phone numbers of citizens who contact the
// hotline.
//
// Numbers arrive in every shape: caller ID from the trunk ("+8613812345678" or
// "13812345678"), typed by an operator during a call ("0477-8581234"), or written
// by a citizen on the web form with a Chinese input method (full-width
// "１３８１２３４５６７８"). Parse reduces them to one stored form, Number.National
// and Number.E164, so that the screen-pop finds a caller's earlier tickets whatever
// way the number was written. Validation comes from the phonenumbers library (a port
// of Google's libphonenumber) with region CN, rather than a home-made pattern that
// would go stale as new mobile prefixes are issued.
//
// Number.Kind decides how a citizen is reached after a ticket is completed: an SMS
// satisfaction survey needs a mobile, a landline gets an outbound IVR call. Numbers
// outside China and service numbers (110, 12345) are Other: the platform neither
// texts nor calls them back.
//
// Departments see a ticket's number masked (Mask, Number.Masked): they need to know
// a citizen called, not to call the citizen outside the platform.
package phone
