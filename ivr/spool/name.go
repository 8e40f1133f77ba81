package spool

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// timeLayout is the time in a file name: what the dialplan's
// ${STRFTIME(${EPOCH},UTC,%Y%m%dT%H%M%SZ)} writes.
const timeLayout = "20060102T150405Z"

// Unknown stands in the file name for a caller or dialled number Asterisk did not have.
const Unknown = "unknown"

// FileName is the name the dialplan gives a voice message, built here for tests and for
// anything else that drops messages into the spool. An empty caller or dialled number is
// written as Unknown; id is Asterisk's UNIQUEID and may be empty.
func FileName(at time.Time, caller, dialled, id, format string) string {
	if caller == "" {
		caller = Unknown
	}
	if dialled == "" {
		dialled = Unknown
	}
	name := at.UTC().Format(timeLayout) + "_" + caller + "_" + dialled
	if id != "" {
		name += "_" + id
	}
	return name + "." + format
}

// header is what a file name says about its message.
type header struct {
	At      time.Time
	Caller  string
	Dialled string
	CallID  string
	Format  string
}

var (
	callerRE  = regexp.MustCompile(`^\+?[0-9]{1,32}$`)
	dialledRE = regexp.MustCompile(`^[0-9*#+]{1,32}$`)
	callIDRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// errNotAudio marks a file the spool ignores because it is no recording (a README, an
// editor's backup); it is left where it is.
var errNotAudio = errors.New("not an audio file")

// parseName reads a spool file name. It is lenient where the dialplan or an older one may
// differ (no unique id, a time without Z or as Unix seconds, "anonymous" or an empty
// caller, upper-case extensions) and strict about the rest: a name it cannot read says
// nothing trustworthy about who called, and goes to failed/ for a person to look at.
func parseName(name string) (header, error) {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return header{}, errNotAudio
	}
	base, format := name[:dot], name[dot+1:]
	if _, ok := formats[strings.ToLower(format)]; !ok {
		return header{}, errNotAudio
	}
	parts := strings.SplitN(base, "_", 4)
	if len(parts) < 3 {
		return header{}, fmt.Errorf("want <time>_<caller>_<dialled>_<uniqueid>.%s, got %d part(s)", format, len(parts))
	}
	h := header{Format: format}
	var err error
	if h.At, err = parseTime(parts[0]); err != nil {
		return header{}, err
	}
	if h.Caller, err = parseNumber(parts[1], callerRE, "caller"); err != nil {
		return header{}, err
	}
	if h.Dialled, err = parseNumber(parts[2], dialledRE, "dialled number"); err != nil {
		return header{}, err
	}
	if len(parts) == 4 {
		if !callIDRE.MatchString(parts[3]) {
			return header{}, fmt.Errorf("call id %q is not an Asterisk unique id", parts[3])
		}
		h.CallID = parts[3]
	}
	return h, nil
}

// parseTime reads 20261126T203015Z, the same without Z (taken as UTC: the dialplan writes
// UTC), or Unix seconds (${EPOCH}).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{timeLayout, "20060102T150405"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if len(s) >= 9 && len(s) <= 11 {
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(secs, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q is not YYYYMMDDTHHMMSSZ or Unix seconds", s)
}

// parseNumber reads a caller or dialled number; "" means unknown.
func parseNumber(s string, re *regexp.Regexp, what string) (string, error) {
	switch strings.ToLower(s) {
	case "", Unknown, "anonymous", "withheld", "restricted":
		return "", nil
	}
	if !re.MatchString(s) {
		return "", fmt.Errorf("%s %q is not a phone number", what, s)
	}
	return s, nil
}
