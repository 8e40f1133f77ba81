package open311

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// posted is the answer to POST requests.
type posted struct {
	ServiceRequestID string `json:"service_request_id" xml:"service_request_id"`
	Token            string `json:"token" xml:"token"`
	ServiceNotice    string `json:"service_notice" xml:"service_notice"`
	AccountID        string `json:"account_id" xml:"account_id"`
}

// requestsXML is the XML list of every answer about service requests (POST requests,
// GET requests, GET tokens): GeoReport v2 names it service_requests and each item
// request, whichever fields the item has.
type requestsXML[T any] struct {
	XMLName  xml.Name `xml:"service_requests"`
	Requests []T      `xml:"request"`
}

// request is a service request as GET requests shows it.
type request struct {
	ServiceRequestID  string   `json:"service_request_id" xml:"service_request_id"`
	Status            string   `json:"status" xml:"status"`
	StatusNotes       string   `json:"status_notes" xml:"status_notes"`
	ServiceName       string   `json:"service_name" xml:"service_name"`
	ServiceCode       string   `json:"service_code" xml:"service_code"`
	Description       string   `json:"description" xml:"description"`
	AgencyResponsible string   `json:"agency_responsible" xml:"agency_responsible"`
	ServiceNotice     string   `json:"service_notice" xml:"service_notice"`
	RequestedDatetime string   `json:"requested_datetime" xml:"requested_datetime"`
	UpdatedDatetime   string   `json:"updated_datetime" xml:"updated_datetime"`
	ExpectedDatetime  string   `json:"expected_datetime" xml:"expected_datetime"`
	Address           string   `json:"address" xml:"address"`
	AddressID         string   `json:"address_id" xml:"address_id"`
	Zipcode           string   `json:"zipcode" xml:"zipcode"`
	Lat               *float64 `json:"lat,omitempty" xml:"lat,omitempty"`
	Long              *float64 `json:"long,omitempty" xml:"long,omitempty"`
	MediaURL          string   `json:"media_url" xml:"media_url"`
}

type tokenAnswer struct {
	ServiceRequestID string `json:"service_request_id" xml:"service_request_id"`
	Token            string `json:"token" xml:"token"`
}

const serviceNotice = "诉求已受理，可凭工单号查询办理进度。"

// refPrefix marks the ExternalRef of an Open311 ticket; the rest is the token.
const refPrefix = "open311:"

// mediaPrefix starts the line of the registration note that keeps media_url.
const mediaPrefix = "media_url: "

var attributeRE = regexp.MustCompile(`^attribute\[([A-Za-z0-9_-]{1,64})\]$`)

func (h *Handler) postRequest(c *gin.Context, f format) *specError {
	ctx := c.Request.Context()
	form := c.Request.PostForm
	p, serr := h.principal(ctx, form.Get("api_key"))
	if serr != nil {
		return serr
	}
	cat, err := h.catalog(ctx)
	if err != nil {
		return h.serverError(ctx, "open311 post: catalog", err)
	}
	code := strings.TrimSpace(form.Get("service_code"))
	if code == "" {
		return errorf(http.StatusBadRequest, "service_code is required")
	}
	svc, ok := cat.byCode[code]
	if !ok {
		return errorf(http.StatusNotFound, "service_code "+code+" not found")
	}
	in := tickets.NewTicket{Channel: tickets.ChannelOpen311, Category: code}

	// Location: lat and long together, or an address string.
	lat, long := strings.TrimSpace(form.Get("lat")), strings.TrimSpace(form.Get("long"))
	addr := strings.TrimSpace(form.Get("address_string"))
	if (lat == "") != (long == "") {
		return errorf(http.StatusBadRequest, "lat and long must be sent together")
	}
	if lat != "" {
		la, err1 := strconv.ParseFloat(lat, 64)
		lo, err2 := strconv.ParseFloat(long, 64)
		if err1 != nil || err2 != nil || la < -90 || la > 90 || lo < -180 || lo > 180 {
			return errorf(http.StatusBadRequest, "lat and long must be WGS84 decimal degrees")
		}
		in.Location.Latitude, in.Location.Longitude = &la, &lo
	}
	if lat == "" && addr == "" {
		if form.Get("address_id") != "" {
			return errorf(http.StatusBadRequest, "address_id is not supported here; send lat and long or address_string")
		}
		return errorf(http.StatusBadRequest, "a location is required: lat and long, or address_string")
	}
	if utf8.RuneCountInString(addr) > 255 {
		return errorf(http.StatusBadRequest, "address_string is over 255 characters")
	}
	in.Location.Address = addr

	// Attributes: only those the service definition asks for.
	attrs := map[string]string{}
	for k, vs := range form {
		if !strings.HasPrefix(k, "attribute[") {
			continue
		}
		m := attributeRE.FindStringSubmatch(k)
		if m == nil || (m[1] != attrDistrict && m[1] != attrTownship) || !svc.Metadata {
			return errorf(http.StatusBadRequest, k+" is not an attribute of service "+code)
		}
		attrs[m[1]] = strings.TrimSpace(vs[0])
	}
	if svc.Metadata {
		in.Location.District, in.Location.Township = attrs[attrDistrict], attrs[attrTownship]
		if in.Location.District == "" {
			return errorf(http.StatusBadRequest, "attribute[district] is required for service "+code)
		}
		if !hasKey(cat.districts, in.Location.District) {
			return errorf(http.StatusBadRequest, "attribute[district] "+in.Location.District+" is not one of the service definition's values")
		}
		if t := in.Location.Township; t != "" && !hasKey(cat.townships[in.Location.District], t) {
			return errorf(http.StatusBadRequest, "attribute[township] "+t+" is not a township of district "+in.Location.District)
		}
	}

	// The citizen, as the client tells of them.
	in.Citizen.Name = strings.TrimSpace(form.Get("last_name") + form.Get("first_name"))
	in.Citizen.Email = strings.TrimSpace(form.Get("email"))
	if ph := strings.TrimSpace(form.Get("phone")); ph != "" {
		n, err := phone.Parse(ph)
		if err != nil {
			return errorf(http.StatusBadRequest, "phone "+ph+" is not a valid phone number")
		}
		in.Citizen.Phone = n.National
	}
	wants := in.Citizen.Phone != "" || in.Citizen.Email != ""
	in.Citizen.WantsReply = &wants
	in.Citizen.Anonymous = in.Citizen.Name == ""

	in.Content = strings.TrimSpace(form.Get("description"))
	if in.Content == "" {
		in.Content = svc.ServiceName + "（Open311 客户端未附描述）"
	}
	var note []string
	if m := strings.TrimSpace(form.Get("media_url")); m != "" {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(m) > 2000 {
			return errorf(http.StatusBadRequest, "media_url must be an http or https URL of at most 2000 characters")
		}
		note = append(note, mediaPrefix+u.String())
	}
	for _, k := range []string{"device_id", "account_id"} {
		if v := strings.TrimSpace(form.Get(k)); v != "" {
			if len(v) > 200 {
				return errorf(http.StatusBadRequest, k+" is over 200 characters")
			}
			note = append(note, k+": "+v)
		}
	}
	in.Note = strings.Join(note, "\n")
	token, err := newToken()
	if err != nil {
		return h.serverError(ctx, "open311 post: token", err)
	}
	in.Ref = refPrefix + token

	v, err := h.opts.Store.Create(ctx, p, in)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && errors.Is(err, api.ErrInvalid) {
			return errorf(http.StatusBadRequest, ae.Message)
		}
		return h.serverError(ctx, "open311 post: register", err)
	}
	h.log.InfoContext(ctx, "open311 request registered", "ticket", v.Number, "service", code, "by", p.Actor())
	out := posted{ServiceRequestID: v.Number, Token: token, ServiceNotice: serviceNotice, AccountID: form.Get("account_id")}
	write(c, f, http.StatusCreated, []posted{out}, requestsXML[posted]{Requests: []posted{out}})
	return nil
}

func hasKey(vs []value, key string) bool {
	for _, v := range vs {
		if v.Key == key {
			return true
		}
	}
	return false
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (h *Handler) public(ch tickets.Channel) bool {
	for _, p := range h.opts.PublicChannels {
		if p == "*" || p == ch {
			return true
		}
	}
	return false
}

// find returns a public ticket, or nil when there is none by that number.
func (h *Handler) find(c *gin.Context, number string) (*tickets.View, *specError) {
	v, err := h.opts.Store.Find(c.Request.Context(), reader, number)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, h.serverError(c.Request.Context(), "open311 find", err)
	case !h.public(v.Channel):
		return nil, nil
	}
	return v, nil
}

func (h *Handler) getRequest(c *gin.Context, f format, id string) *specError {
	v, serr := h.find(c, id)
	if serr != nil {
		return serr
	}
	if v == nil {
		return errorf(http.StatusNotFound, "service_request_id "+id+" not found")
	}
	out := []request{toRequest(v)}
	write(c, f, http.StatusOK, out, requestsXML[request]{Requests: out})
	return nil
}

// Default and largest page of GET requests; the specification allows up to 1000 and a
// default window of 90 days, which we keep, with smaller pages.
const (
	defaultLimit  = 50
	maxLimit      = 200
	defaultWindow = 90 * 24 * time.Hour
)

func (h *Handler) listRequests(c *gin.Context, f format) *specError {
	ctx := c.Request.Context()
	q := c.Request.Form
	if ids := strings.TrimSpace(q.Get("service_request_id")); ids != "" {
		// With ids, the specification says every other parameter is ignored.
		parts := strings.Split(ids, ",")
		if len(parts) > maxLimit {
			return errorf(http.StatusBadRequest, fmt.Sprintf("at most %d service_request_id values at once", maxLimit))
		}
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return h.writeRequests(c, f, parts)
	}
	filter := tickets.Filter{Category: strings.TrimSpace(q.Get("service_code"))}
	if filter.Category != "" {
		cat, err := h.catalog(ctx)
		if err != nil {
			return h.serverError(ctx, "open311 list: catalog", err)
		}
		if _, ok := cat.byCode[filter.Category]; !ok {
			return errorf(http.StatusNotFound, "service_code "+filter.Category+" not found")
		}
	}
	switch st := strings.ReplaceAll(q.Get("status"), " ", ""); st {
	case "", "open,closed", "closed,open":
	case "open", "closed":
		open := st == "open"
		filter.Open = &open
	default:
		return errorf(http.StatusBadRequest, "status must be open, closed or both, not "+st)
	}
	for _, d := range []struct {
		name string
		to   **time.Time
	}{{"start_date", &filter.From}, {"end_date", &filter.To}} {
		if s := strings.TrimSpace(q.Get(d.name)); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return errorf(http.StatusBadRequest, d.name+" must be a W3C date-time such as 2026-11-23T09:00:00+08:00")
			}
			*d.to = &t
		}
	}
	if filter.From == nil {
		from := h.opts.Now().Add(-defaultWindow)
		if filter.To != nil {
			from = filter.To.Add(-defaultWindow)
		}
		filter.From = &from
	}
	limit := defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return errorf(http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", maxLimit))
		}
		limit = n
	}
	page := 1
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "page must be a whole number from 1")
		}
		page = n
	}
	var all []tickets.Summary
	for _, ch := range h.opts.PublicChannels {
		fl := filter
		if ch != "*" {
			fl.Channel = ch
		}
		// Each channel's first page*limit tickets hold the merged page's.
		list, _, err := h.opts.Store.List(ctx, reader, fl, api.Page{Page: 1, PerPage: min(page*limit, api.MaxPerPage)})
		if err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && errors.Is(err, api.ErrInvalid) {
				return errorf(http.StatusBadRequest, ae.Message)
			}
			return h.serverError(ctx, "open311 list", err)
		}
		all = append(all, list...)
		if ch == "*" {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].RegisteredAt.After(all[j].RegisteredAt) })
	start := (page - 1) * limit
	if start > len(all) {
		start = len(all)
	}
	all = all[start:min(start+limit, len(all))]
	numbers := make([]string, len(all))
	for i, s := range all {
		numbers[i] = s.Number
	}
	return h.writeRequests(c, f, numbers)
}

// writeRequests answers with the public requests among numbers, in their order; a number
// with no public ticket (unknown, or from a channel that is not public) is left out.
func (h *Handler) writeRequests(c *gin.Context, f format, numbers []string) *specError {
	var out []request
	for _, n := range numbers {
		v, serr := h.find(c, n)
		if serr != nil {
			return serr
		}
		if v != nil {
			out = append(out, toRequest(v))
		}
	}
	write(c, f, http.StatusOK, nonNil(out), requestsXML[request]{Requests: out})
	return nil
}

func nonNil(rs []request) []request {
	if rs == nil {
		return []request{}
	}
	return rs
}

var tokenRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (h *Handler) getToken(c *gin.Context, f format, token string) *specError {
	if !tokenRE.MatchString(token) {
		return errorf(http.StatusNotFound, "token "+token+" not found")
	}
	var numbers []string
	err := h.opts.Store.DB().WithContext(c.Request.Context()).Model(&tickets.Ticket{}).
		Where("channel = ? AND external_ref = ?", tickets.ChannelOpen311, refPrefix+token).Limit(1).Pluck("number", &numbers).Error
	if err != nil {
		return h.serverError(c.Request.Context(), "open311 token", err)
	}
	if len(numbers) == 0 {
		return errorf(http.StatusNotFound, "token "+token+" not found")
	}
	out := []tokenAnswer{{ServiceRequestID: numbers[0], Token: token}}
	write(c, f, http.StatusOK, out, requestsXML[tokenAnswer]{Requests: out})
	return nil
}

// mobileRE finds mobile numbers that citizens write into descriptions.
var mobileRE = regexp.MustCompile(`1[3-9]\d{9}`)

func toRequest(v *tickets.View) request {
	r := request{
		ServiceRequestID:  v.Number,
		Status:            "open",
		ServiceName:       v.Category.Name,
		ServiceCode:       v.Category.Code,
		Description:       mobileRE.ReplaceAllStringFunc(v.Content, phone.Mask),
		RequestedDatetime: v.RegisteredAt.Format(time.RFC3339),
		UpdatedDatetime:   v.UpdatedAt.Format(time.RFC3339),
		Address:           v.Location.Address,
		Lat:               v.Location.Latitude,
		Long:              v.Location.Longitude,
	}
	if !v.Status.Open() {
		r.Status = "closed"
	}
	if v.LeadDepartment != nil {
		r.AgencyResponsible = v.LeadDepartment.Name
	}
	if v.DueAt != nil && v.Status.Open() {
		r.ExpectedDatetime = v.DueAt.Format(time.RFC3339)
	}
	if r.Address == "" {
		var parts []string
		for _, d := range []*tickets.DepartmentRef{v.Location.District, v.Location.Township} {
			if d != nil {
				parts = append(parts, d.Name)
			}
		}
		r.Address = strings.Join(parts, " ")
	}
	r.StatusNotes = statusNotes(v)
	for _, e := range v.Timeline {
		if e.Action != tickets.ActRegister {
			continue
		}
		for _, line := range strings.Split(e.Note, "\n") {
			if strings.HasPrefix(line, mediaPrefix) {
				r.MediaURL = strings.TrimPrefix(line, mediaPrefix)
			}
		}
		break
	}
	return r
}

// statusNotes tells where the ticket stands: the result once closed, else the status and
// the latest public step of the timeline.
func statusNotes(v *tickets.View) string {
	if !v.Status.Open() {
		if res := intake.ResultText(v); res != "" {
			return intake.StatusLabel(v.Status) + "：" + res
		}
		return intake.StatusLabel(v.Status)
	}
	notes := intake.StatusLabel(v.Status)
	if steps := intake.PublicTimeline(v); len(steps) > 0 {
		last := steps[len(steps)-1]
		notes += "（" + last.At.Format("2006-01-02 15:04") + " " + last.What
		if last.Department != "" {
			notes += "：" + last.Department
		}
		notes += "）"
	}
	return notes
}
