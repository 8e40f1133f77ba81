package tickets

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
)

// Moving in: tickets from a city's previous platform are imported with their history.
// Each imported ticket gets a number of this platform (in the year it was registered),
// keeps the old one as its external reference, and has a timeline of imported events
// (imported_register, imported_dispatch, imported_reply, imported_complete) at their
// original times, hash-chained like every other timeline. The imported actions are not
// the workflow's: the SMS outbox and the callback surveys, which read the timeline for
// registrations and completions, leave history alone, so no citizen is texted about a
// matter closed years ago.
//
// Idempotent re-runs: ticket_imports holds one row per (source, reference) under a
// unique index, written in the transaction that writes the ticket; a row already there
// is skipped and reported with the ticket it became.

// The imported actions; the timeline shows them with their original times.
const (
	ActImportedRegister Action = "imported_register"
	ActImportedDispatch Action = "imported_dispatch"
	ActImportedReply    Action = "imported_reply"
	ActImportedComplete Action = "imported_complete"
)

// ImportedActions are the imported timeline actions, in the order a ticket takes them.
var ImportedActions = []Action{ActImportedRegister, ActImportedDispatch, ActImportedReply, ActImportedComplete}

// ImportActor is who the imported events and tickets are recorded as; the original
// operator's name, when the old platform gave it, is in the registration's data.
const ImportActor = "system:import"

// ImportStatuses are the statuses an imported ticket may have. A ticket still open in
// the old platform carries on here: at the central desk (registered), waiting for its
// department to sign (dispatched), being handled (handling) or with its reply waiting
// for verification (replied).
var ImportStatuses = []Status{StatusRegistered, StatusDispatched, StatusHandling, StatusReplied, StatusCompleted}

// Import is one record of the previous platform, already read from its file. Names of
// departments and categories may be given as codes or as names; times are absolute.
type Import struct {
	Ref      string // the old platform's ticket number: unique per source
	Channel  Channel
	Name     string
	Phone    string
	Email    string
	Title    string
	Content  string
	Category string // code or name
	Urgency  Urgency
	District string // code or name of a banner/district government
	Township string // code or name of a township or street
	Address  string
	// Department is the lead department (code or name); empty for a ticket answered at
	// the desk or not yet dispatched.
	Department string
	Status     Status
	Operator   string // who registered it in the old platform, kept in the event's data

	RegisteredAt time.Time
	DispatchedAt *time.Time
	SignedAt     *time.Time
	RepliedAt    *time.Time
	CompletedAt  *time.Time
	// DueAt is the deadline the old platform set; nil computes it from the category's
	// limits from the dispatch, as a dispatch here would.
	DueAt  *time.Time
	Reply  string // the department's reply
	Answer string // the result told to the citizen; defaults to the reply
}

// Import errors are *api.Error values with Field set to the Import field at fault
// (content, registered_at, department …), so that a file reader can name its column.
func importError(field, code, format string, args ...any) *api.Error {
	e := api.Errorf(api.ErrInvalid, code, format, args...)
	e.Field = field
	return e
}

// ImportResult is what became of one record.
type ImportResult struct {
	Ref    string
	Number string // the ticket's number here
	// Existing: the record had been imported before (this run skipped it).
	Existing bool
	// Err is why the record was refused: an *api.Error whose Field names the Import
	// field at fault.
	Err error
}

// Imported is one ticket written by an import, for what the caller writes beside it in
// the same transaction (the satisfaction survey).
type Imported struct {
	Index         int // of the record in the batch
	Ticket        *Ticket
	LeadID        *uint
	CompletionSeq int // the imported_complete event; 0 when still open
}

// importRecord is one ticket's migration row.
type importRecord struct {
	ID         uint64 `gorm:"primaryKey"`
	Source     string `gorm:"size:64;not null"`
	Ref        string `gorm:"size:255;not null"`
	TicketID   uint64 `gorm:"not null"`
	ImportedAt time.Time
}

func (importRecord) TableName() string { return "ticket_imports" }

// ImportedNumbers returns, of refs, those already imported from source, with the
// number of the ticket each became.
func (s *Store) ImportedNumbers(ctx context.Context, source string, refs []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(refs); start += 500 {
		chunk := refs[start:min(start+500, len(refs))]
		var rows []struct{ Ref, Number string }
		err := s.db.WithContext(ctx).Table("ticket_imports i").Select("i.ref, t.number").
			Joins("JOIN tickets t ON t.id = i.ticket_id").
			Where("i.source = ? AND i.ref IN ?", source, chunk).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("imported tickets of %s: %w", source, err)
		}
		for _, r := range rows {
			out[r.Ref] = r.Number
		}
	}
	return out, nil
}

// prepared is a checked record, built in memory: the ticket, its timeline and its
// assignment, ready to be written.
type prepared struct {
	t      *Ticket
	evs    []*Event
	as     *Assignment
	year   int
	lead   *uint
	compl  int
	regBy  string
	source int
}

// ImportOptions say how Import runs.
type ImportOptions struct {
	// DryRun checks every record as an import would and writes nothing.
	DryRun bool
	// Also, when set, writes what belongs beside the tickets in the same transaction.
	Also func(tx *gorm.DB, done []Imported) error
}

// Import writes the records not yet imported from source, in one transaction. A record
// that cannot be imported is refused with its reason in its result (Err, an *api.Error
// naming the field) and the others are written; an error is returned only when nothing
// could be written. Results are in the order of records.
func (s *Store) Import(ctx context.Context, source string, records []Import, opts ImportOptions) ([]ImportResult, error) {
	source = strings.TrimSpace(source)
	if source == "" || len(source) > 64 {
		return nil, api.Errorf(api.ErrInvalid, "invalid_source", "an import names its source (1 to 64 characters)")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	refs := make([]string, len(records))
	for i, r := range records {
		refs[i] = strings.TrimSpace(r.Ref)
	}
	existing, err := s.ImportedNumbers(ctx, source, refs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	results := make([]ImportResult, len(records))
	var todo []*prepared
	seen := map[string]int{}
	for i, r := range records {
		results[i].Ref = refs[i]
		if n, ok := existing[refs[i]]; ok && refs[i] != "" {
			results[i].Number, results[i].Existing = n, true
			continue
		}
		if j, ok := seen[refs[i]]; ok && refs[i] != "" {
			results[i].Err = importError("ref", "duplicate_ref", "reference %q is given twice (records %d and %d)", refs[i], j+1, i+1)
			continue
		}
		seen[refs[i]] = i
		p, err := s.prepareImport(dir, r, now)
		if err != nil {
			results[i].Err = err
			continue
		}
		p.source = i
		todo = append(todo, p)
	}
	if len(todo) == 0 || opts.DryRun {
		return results, nil
	}
	// Numbers in the year of registration, one block of serials per year.
	byYear := map[int][]*prepared{}
	for _, p := range todo {
		byYear[p.year] = append(byYear[p.year], p)
	}
	years := make([]int, 0, len(byYear))
	for y := range byYear {
		years = append(years, y)
	}
	sort.Ints(years)
	for _, y := range years {
		ps := byYear[y]
		last, err := s.reserveSerials(ctx, y, int64(len(ps)))
		if err != nil {
			return nil, err
		}
		first := last - int64(len(ps)) + 1
		for k, p := range ps {
			p.t.Number = FormatNumber(y, first+int64(k))
			s.chain(p)
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Inside this transaction, batched inserts need no savepoints of their own.
		tx = tx.Session(&gorm.Session{SkipDefaultTransaction: true})
		ts := make([]*Ticket, len(todo))
		for k, p := range todo {
			ts[k] = p.t
		}
		if err := tx.CreateInBatches(ts, 200).Error; err != nil {
			return fmt.Errorf("insert tickets: %w", err)
		}
		var evs []*Event
		var as []*Assignment
		recs := make([]importRecord, 0, len(todo))
		done := make([]Imported, 0, len(todo))
		for _, p := range todo {
			for _, e := range p.evs {
				e.TicketID = p.t.ID
				evs = append(evs, e)
			}
			if p.as != nil {
				p.as.TicketID = p.t.ID
				as = append(as, p.as)
			}
			recs = append(recs, importRecord{Source: source, Ref: p.t.ExternalRef, TicketID: p.t.ID, ImportedAt: now})
			done = append(done, Imported{Index: p.source, Ticket: p.t, LeadID: p.lead, CompletionSeq: p.compl})
		}
		if err := tx.CreateInBatches(evs, 500).Error; err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if len(as) > 0 {
			if err := tx.CreateInBatches(as, 500).Error; err != nil {
				return fmt.Errorf("insert assignments: %w", err)
			}
		}
		if err := tx.CreateInBatches(recs, 1000).Error; err != nil {
			return fmt.Errorf("record imported references: %w", err)
		}
		if opts.Also != nil {
			return opts.Also(tx, done)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import from %s: %w", source, err)
	}
	for _, p := range todo {
		results[p.source].Number = p.t.Number
	}
	return results, nil
}

// reserveSerials takes n serials of year's counter at once and returns the last.
func (s *Store) reserveSerials(ctx context.Context, year int, n int64) (int64, error) {
	name := fmt.Sprintf("ticket:%d", year)
	db := s.db.WithContext(ctx)
	for attempt := 0; attempt < 2; attempt++ {
		var values []int64
		if err := db.Raw("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value", n, name).Scan(&values).Error; err != nil {
			return 0, fmt.Errorf("reserve ticket serials: %w", err)
		}
		if len(values) == 1 {
			return values[0], nil
		}
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Counter{Name: name, Value: 0}).Error; err != nil {
			return 0, fmt.Errorf("create ticket counter: %w", err)
		}
	}
	return 0, fmt.Errorf("reserve ticket serials: counter %s missing", name)
}

// chain hashes p's events under the ticket's number, now that it has one.
func (s *Store) chain(p *prepared) {
	p.t.EventSeq, p.t.EventHash = 0, ""
	for _, e := range p.evs {
		e.Seq = p.t.EventSeq + 1
		e.PrevHash = p.t.EventHash
		s.link(p.t.Number, e)
		p.t.EventSeq, p.t.EventHash = e.Seq, e.Hash
	}
}

// findDepartment finds a department by code, else by its exact name (which must be
// unique). Retired departments are found: history names them.
func (d *directory) findDepartment(field, s string) (*Department, error) {
	s = strings.TrimSpace(s)
	if dep, ok := d.deptCode[s]; ok {
		return dep, nil
	}
	var found []*Department
	for _, dep := range d.depts {
		if dep.Name == s {
			found = append(found, dep)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, importError(field, "unknown_department", "no department has the code or name %q; add it, or map the name to a code", s)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Code < found[j].Code })
	codes := make([]string, len(found))
	for i, f := range found {
		codes[i] = f.Code
	}
	return nil, importError(field, "ambiguous_department", "%d departments are called %q (%s); map the name to one code", len(found), s, strings.Join(codes, ", "))
}

// findCategory finds a category by code, else by its name: a unique name, or a path of
// names from the top ("投诉/供暖" or "投诉-供暖") when several categories share a name.
func (d *directory) findCategory(s string) (*Category, error) {
	s = strings.TrimSpace(s)
	if c, ok := d.catCode[s]; ok {
		return c, nil
	}
	path := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '-' || r == '>' || r == '－' || r == '／' })
	if len(path) == 0 {
		return nil, importError("category", "unknown_category", "no category is given")
	}
	leaf := strings.TrimSpace(path[len(path)-1])
	var found []*Category
	for _, c := range d.cats {
		if c.Name != leaf {
			continue
		}
		chain := d.categoryChain(c) // nearest first
		ok := len(path) <= len(chain)
		for k := 0; ok && k < len(path); k++ {
			ok = chain[k].Name == strings.TrimSpace(path[len(path)-1-k])
		}
		if ok {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, importError("category", "unknown_category", "no category has the code or name %q; add it, or map the name to a code", s)
	}
	return nil, importError("category", "ambiguous_category", "%d categories are called %q; give the path (投诉/供暖) or map the name to a code", len(found), s)
}

func (s *Store) prepareImport(dir *directory, in Import, now time.Time) (*prepared, error) {
	t := &Ticket{Version: 1, Open: true, RegisteredBy: ImportActor, UpdatedAt: now}
	ref, err := checkText("ref", in.Ref, 255, true)
	if err != nil {
		return nil, importError("ref", "missing_ref", "the record has no reference (the old ticket number); it is what makes a re-run skip it")
	}
	t.ExternalRef = ref
	if in.Channel == "" {
		in.Channel = ChannelPhone
	}
	if !in.Channel.Valid() {
		return nil, importError("channel", "unknown_channel", "unknown channel %q; one of %v", in.Channel, channels)
	}
	t.Channel = in.Channel
	if in.Urgency == "" {
		in.Urgency = UrgencyNormal
	}
	if !in.Urgency.Valid() {
		return nil, importError("urgency", "unknown_urgency", "unknown urgency %q; one of normal, urgent, critical", in.Urgency)
	}
	t.Urgency = in.Urgency
	text := func(field string, v string, max int, required bool) string {
		if err != nil {
			return ""
		}
		var out string
		if out, err = checkText(field, v, max, required); err != nil {
			var ae *api.Error
			if errors.As(err, &ae) {
				ae.Field = field
			}
		}
		return out
	}
	t.Content = text("content", in.Content, MaxContentRunes, true)
	t.Title = text("title", in.Title, MaxTitleRunes, false)
	t.CitizenName = text("name", in.Name, 64, false)
	t.Address = text("address", in.Address, 255, false)
	reply := text("reply", in.Reply, MaxAnswerRunes, false)
	answer := text("answer", in.Answer, MaxAnswerRunes, false)
	operator := text("operator", in.Operator, 96, false)
	if err != nil {
		return nil, err
	}
	if t.Title == "" {
		t.Title = summarize(t.Content, 30)
	}
	if strings.TrimSpace(in.Category) == "" {
		return nil, importError("category", "empty_category", "the category is required")
	}
	cat, err := dir.findCategory(in.Category)
	if err != nil {
		return nil, err
	}
	t.CategoryID = cat.ID
	t.WantsReply = true
	if raw := strings.TrimSpace(in.Phone); raw != "" {
		n, err := phone.Parse(raw)
		if err != nil {
			return nil, importError("phone", "invalid_phone", "%q is not a valid phone number: %v", raw, err)
		}
		t.CitizenPhone, t.PhoneKind = n.National, phoneKindOf(n.Kind)
	}
	if e := strings.TrimSpace(in.Email); e != "" {
		if len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \r\n<>") {
			return nil, importError("email", "invalid_email", "%q is not a valid e-mail address", e)
		}
		t.CitizenEmail = e
	}
	if in.District != "" {
		d, err := dir.findDepartment("district", in.District)
		if err != nil {
			return nil, err
		}
		if d.Level != LevelDistrict || !d.Government {
			return nil, importError("district", "invalid_district", "%q (%s) is not a banner/district government", in.District, d.Name)
		}
		t.DistrictID = &d.ID
	}
	if in.Township != "" {
		d, err := dir.findDepartment("township", in.Township)
		if err != nil {
			return nil, err
		}
		if d.Level != LevelTownship {
			return nil, importError("township", "invalid_township", "%q (%s) is not a township or street", in.Township, d.Name)
		}
		if t.DistrictID != nil && !dir.within(d.ID, dir.depts[*t.DistrictID]) {
			return nil, importError("township", "invalid_township", "township %q is not in district %q", in.Township, in.District)
		}
		t.TownshipID = &d.ID
	}

	// Times: registered first, then dispatched, signed, replied and completed, none in
	// the future.
	if in.RegisteredAt.IsZero() {
		return nil, importError("registered_at", "missing_registered_at", "the registration time is required: it decides the period the ticket counts in")
	}
	at := func(x time.Time) time.Time { return x.UTC().Truncate(time.Microsecond) }
	reg := at(in.RegisteredAt)
	times := []struct {
		field string
		t     *time.Time
	}{{"registered_at", &reg}, {"dispatched_at", in.DispatchedAt}, {"signed_at", in.SignedAt}, {"replied_at", in.RepliedAt}, {"completed_at", in.CompletedAt}}
	prev, prevField := time.Time{}, ""
	for _, x := range times {
		if x.t == nil {
			continue
		}
		if x.t.After(now) {
			return nil, importError(x.field, "future_time", "%s %s is in the future", x.field, x.t.In(s.opts.Location).Format(time.DateTime))
		}
		if x.t.Before(prev) {
			return nil, importError(x.field, "time_order", "%s %s is before %s %s", x.field, x.t.In(s.opts.Location).Format(time.DateTime),
				prevField, prev.In(s.opts.Location).Format(time.DateTime))
		}
		prev, prevField = *x.t, x.field
	}
	t.RegisteredAt, t.CreatedAt = reg, reg

	status := in.Status
	if status == "" {
		return nil, importError("status", "missing_status", "the status is required (one of %v)", ImportStatuses)
	}
	okStatus := false
	for _, s := range ImportStatuses {
		okStatus = okStatus || s == status
	}
	if !okStatus {
		return nil, importError("status", "unsupported_status", "status %q cannot be imported; one of %v (map the old platform's words to these)", status, ImportStatuses)
	}
	var dept *Department
	if strings.TrimSpace(in.Department) != "" {
		if dept, err = dir.findDepartment("department", in.Department); err != nil {
			return nil, err
		}
	}
	completed := status == StatusCompleted
	switch {
	case completed && in.CompletedAt == nil:
		return nil, importError("completed_at", "missing_completed_at", "a completed ticket needs its completion time")
	case !completed && in.CompletedAt != nil:
		return nil, importError("completed_at", "completed_at_open", "a completion time is given but the status is %s", status)
	case status == StatusRegistered && dept != nil:
		return nil, importError("department", "department_not_dispatched", "a department is given but the status (registered) says the ticket was never dispatched")
	case status != StatusRegistered && !completed && dept == nil:
		return nil, importError("department", "missing_department", "a %s ticket needs the department handling it", status)
	case status == StatusReplied && reply == "":
		return nil, importError("reply", "missing_reply", "a replied ticket needs the reply")
	case completed && dept == nil && answer == "" && reply == "":
		return nil, importError("answer", "missing_answer", "a completed ticket needs the result told to the citizen (the answer or the reply)")
	}
	p := &prepared{t: t, year: reg.In(s.opts.Location).Year(), regBy: operator}
	data := map[string]any{"ref": ref, "channel": t.Channel, "category": cat.Code, "urgency": t.Urgency}
	if operator != "" {
		data["operator"] = operator
	}
	t.Status = StatusRegistered
	p.evs = append(p.evs, s.importEvent(t, reg, ActImportedRegister, "", nil, "", data))
	if dept != nil {
		p.lead = &dept.ID
		dis := reg
		if in.DispatchedAt != nil {
			dis = at(*in.DispatchedAt)
		}
		lim := s.limitsFor(dir, t)
		signDue := s.deadline(dis, lim.sign)
		due := s.deadline(dis, lim.handle)
		if in.DueAt != nil {
			due = at(*in.DueAt)
		}
		a := &Assignment{DepartmentID: dept.ID, Lead: true, Status: AssignDispatched, DispatchedAt: dis, SignDueAt: signDue,
			DueAt: &due, HandleLimit: lim.handle.String(), CreatedAt: dis, UpdatedAt: now}
		p.as = a
		from := t.Status
		t.Status = StatusDispatched
		t.LeadDepartmentID, t.DispatchedAt, t.SignDueAt, t.DueAt = &dept.ID, &dis, &signDue, &due
		p.evs = append(p.evs, s.importEvent(t, dis, ActImportedDispatch, from, &dept.ID, "",
			map[string]any{"departments": []string{dept.Code}, "lead": dept.Code, "due_at": due}))
		// A ticket that went past sign-for without a recorded time is taken as signed
		// when dispatched: the old platform did not say.
		if status != StatusDispatched {
			signed := dis
			if in.SignedAt != nil {
				signed = at(*in.SignedAt)
			}
			a.SignedAt, a.Status, t.Status = &signed, AssignSigned, StatusHandling
		}
		// A completed ticket's department replied: when the old platform kept no reply
		// time, at completion, and with the answer when it kept no reply text.
		if status == StatusReplied || completed {
			if reply == "" {
				reply = answer
			}
			rep := reg
			switch {
			case in.RepliedAt != nil:
				rep = at(*in.RepliedAt)
			case in.CompletedAt != nil:
				rep = at(*in.CompletedAt)
			default:
				rep = *a.SignedAt
			}
			from := t.Status
			a.RepliedAt, a.Reply, a.Status, t.Status = &rep, reply, AssignReplied, StatusReplied
			p.evs = append(p.evs, s.importEvent(t, rep, ActImportedReply, from, &dept.ID, reply, nil))
		}
	} else if in.DispatchedAt != nil || in.SignedAt != nil || in.RepliedAt != nil {
		return nil, importError("department", "missing_department", "dispatch, sign-for or reply times are given but no department")
	}
	if completed {
		done := at(*in.CompletedAt)
		if answer == "" {
			answer = reply
		}
		from := t.Status
		t.Status, t.Open, t.Answer, t.CompletedAt = StatusCompleted, false, answer, &done
		if p.as != nil {
			p.as.Status = AssignClosed
			if p.as.SignedAt == nil {
				p.as.SignedAt = &done
			}
		}
		p.evs = append(p.evs, s.importEvent(t, done, ActImportedComplete, from, p.lead, answer, nil))
		p.compl = len(p.evs)
	}
	// An open ticket already late is marked by the overdue worker on its next pass, with
	// its event, as any other.
	return p, nil
}

// importEvent is one imported timeline event; its sequence and hash are set by chain
// once the ticket has its number.
func (s *Store) importEvent(t *Ticket, at time.Time, action Action, from Status, dept *uint, note string, data map[string]any) *Event {
	e := s.newEvent(t, at, ImportActor, action, from, note, data)
	e.DepartmentID = dept
	return e
}
