package audit

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
)

// Middleware puts the client's address into each request's context, for the records
// made while serving it. Mount it on the engine, before everything that records.
func Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = c.Request.WithContext(WithClient(c.Request.Context(), c.ClientIP()))
		c.Next()
	}
}

// Routes mounts the search on g. Only administrators may read the audit log: g must
// already require that role (the auth package, which records into this log, cannot be
// imported here).
//
//	GET /audit   ?actor= &action= &target= (a trailing * matches a prefix) &q= (in detail or
//	             reason) &from= &to= (RFC 3339 or YYYY-MM-DD) &page= &per_page=
func (l *Log) Routes(g *gin.RouterGroup) {
	g.GET("/audit", api.Handle(l.log, l.handleFind))
}

func (l *Log) handleFind(c *gin.Context) error {
	f, err := ParseFilter(c.Query, l.opts.Location)
	if err != nil {
		return err
	}
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	rs, more, err := l.Find(c.Request.Context(), f, page)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"records": rs, "more": more, "page": page.Page, "per_page": page.PerPage})
	return nil
}

// ParseFilter reads a Filter from query parameters (shared by the API and the console).
func ParseFilter(get func(string) string, loc *time.Location) (Filter, error) {
	f := Filter{Actor: get("actor"), Action: get("action"), Target: get("target"), Text: get("q")}
	var err error
	if f.From, err = parseTime("from", get("from"), false, loc); err != nil {
		return f, err
	}
	if f.To, err = parseTime("to", get("to"), true, loc); err != nil {
		return f, err
	}
	return f, nil
}

// parseTime reads RFC 3339 or a plain date; a plain date as an end means the end of
// that day (in the city's zone), so that from=to=2026-12-06 selects the whole day.
func parseTime(name, s string, end bool, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, api.Errorf(api.ErrInvalid, "invalid_"+name,
			"%s must be a time like 2026-12-06T08:00:00+08:00 or a date like 2026-12-06, not %q", name, s)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
