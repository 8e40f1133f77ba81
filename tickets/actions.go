package tickets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
)

// ActionRequest carries what a workflow action needs; each action reads only its fields.
type ActionRequest struct {
	// Version is the ticket version the client last saw. When given and stale, the action
	// is refused with 409 so that nobody acts on a ticket they have not seen as it is.
	Version int    `json:"version,omitempty"`
	Note    string `json:"note,omitempty"`
	// dispatch, accept_return (to re-dispatch at once): departments and the lead one.
	Departments []string `json:"departments,omitempty"`
	Lead        string   `json:"lead,omitempty"`
	// redispatch: the sub-unit; approve_extension/refuse_extension/urge: which department.
	Department string `json:"department,omitempty"`
	// reply: the department's reply; answer, approve: the answer told to the citizen.
	Reply  string `json:"reply,omitempty"`
	Answer string `json:"answer,omitempty"`
	// return, reopen, request_extension: why; refuse: a refusal reason code.
	Reason string `json:"reason,omitempty"`
	// request_extension: the new deadline asked for.
	Until *time.Time `json:"until,omitempty"`
	// merge: the number of the original ticket.
	Into string `json:"into,omitempty"`
}

// Act carries out a workflow action on a ticket for p. An action the ticket's status
// does not allow is api.ErrConflict naming the status; a stale version or a concurrent
// change is api.ErrConflict too; an action by the wrong role is api.ErrForbidden.
func (s *Store) Act(ctx context.Context, p *auth.Principal, number string, action Action, req ActionRequest) (*View, error) {
	if r, ok := rules[action]; !ok || action == ActAttach {
		return nil, api.Errorf(api.ErrNotFound, "unknown_action", "unknown action %q; one of %v", action, Actions)
	} else if !p.Is(r.roles...) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "a %s may not %s a ticket", p.Role, action)
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	var view *View
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		t, as, err := s.load(ctx, tx, number, true)
		if err != nil {
			return err
		}
		if !visible(dir, p, as) {
			return errNotFound(t.Number)
		}
		if req.Version != 0 && req.Version != t.Version {
			return api.Errorf(api.ErrConflict, "stale_version",
				"ticket %s has changed since you read it (you have version %d, it is at version %d); reload and try again",
				t.Number, req.Version, t.Version)
		}
		mine, err := s.permit(dir, p, t, as, action)
		if err != nil {
			return err
		}
		w := &work{s: s, dir: dir, p: p, t: t, as: as, mine: mine, now: s.now(), from: t.Status, version: t.Version, tx: tx}
		if err := w.do(action, req); err != nil {
			return err
		}
		if err := w.save(tx); err != nil {
			return err
		}
		view = s.view(dir, p, t, as)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Re-read for the timeline; the write has committed.
	if v, err := s.Find(ctx, p, view.Number); err == nil {
		return v, nil
	}
	return view, nil
}

func pastTense(a Action) string {
	switch a {
	case ActDispatch:
		return "dispatched"
	case ActSign:
		return "signed for"
	case ActRedispatch:
		return "re-dispatched"
	case ActReply:
		return "replied to"
	case ActReturn:
		return "returned"
	case ActAcceptReturn, ActRejectReturn:
		return "arbitrated (there is no pending return)"
	case ActApprove:
		return "approved (there is no reply to verify)"
	case ActSendBack:
		return "sent back (there is no reply to verify)"
	case ActRequestExtension:
		return "given an extension request"
	case ActApproveExtension, ActRefuseExtension:
		return "given an extension decision"
	case ActUrge:
		return "urged"
	case ActAnswer:
		return "answered directly"
	case ActReopen:
		return "reopened (only a completed ticket can be)"
	case ActMerge:
		return "merged"
	case ActRefuse:
		return "refused"
	case ActNote:
		return "noted"
	}
	return string(a)
}

// work is one action in progress on a loaded ticket.
type work struct {
	s       *Store
	dir     *directory
	p       *auth.Principal
	t       *Ticket
	as      []*Assignment
	mine    *Assignment // for departmental actions: the acting department's assignment
	tx      *gorm.DB
	now     time.Time
	from    Status
	version int
	events  []*Event
	newAs   []*Assignment
	touched map[*Assignment]bool
	extra   func(tx *gorm.DB) error // a second ticket to update (merge)
}

func (w *work) touch(a *Assignment) {
	if w.touched == nil {
		w.touched = map[*Assignment]bool{}
	}
	w.touched[a] = true
}

func (w *work) event(action Action, dept *uint, note string, data map[string]any) {
	e := w.s.newEvent(w.t, w.now, w.p.Actor(), action, w.from, note, data)
	if dept != nil {
		e.DepartmentID = dept
		w.s.link(w.t.Number, e)
		w.t.EventHash = e.Hash
	}
	w.events = append(w.events, e)
	w.from = w.t.Status
}

func (w *work) requireText(field, s string, max int) (string, error) {
	return checkText(field, s, max, true)
}

func (w *work) do(action Action, req ActionRequest) error {
	note, err := checkText("note", req.Note, MaxNoteRunes, false)
	if err != nil {
		return err
	}
	t := w.t
	switch action {
	case ActDispatch:
		cat := w.dir.cats[t.CategoryID]
		plan, err := w.s.planDispatch(w.dir, t, cat, DispatchRequest{Departments: req.Departments, Lead: req.Lead, Note: note})
		if err != nil {
			return err
		}
		as, ev, err := w.s.applyDispatch(t, plan, w.now, w.p.Actor())
		if err != nil {
			return err
		}
		for _, a := range as {
			a.TicketID = t.ID
		}
		w.newAs = append(w.newAs, as...)
		w.as = append(w.as, as...)
		w.events = append(w.events, ev)
		w.from = t.Status

	case ActSign:
		a := w.mine
		a.Status, a.SignedAt = AssignSigned, &w.now
		if a.DueAt == nil {
			due := w.s.deadline(w.now, mustLimit(a.HandleLimit))
			a.DueAt = &due
		}
		w.touch(a)
		w.settle()
		w.event(ActSign, &a.DepartmentID, note, map[string]any{"due_at": a.DueAt.UTC()})

	case ActRedispatch:
		a := w.mine
		if strings.TrimSpace(req.Department) == "" {
			return invalid("empty_department", "department (the sub-unit to hand the ticket to) is required")
		}
		sub, err := w.dir.department(req.Department)
		if err != nil {
			return err
		}
		own := w.dir.depts[a.DepartmentID]
		if sub.ID == own.ID || !w.dir.within(sub.ID, own) {
			return invalid("not_subunit", "%s (%s) is not a sub-unit of %s; a department re-dispatches only downwards", sub.Code, sub.Name, own.Code)
		}
		if a.DueAt == nil { // handing it down counts as signing for it
			a.SignedAt = &w.now
			due := w.s.deadline(w.now, mustLimit(a.HandleLimit))
			a.DueAt = &due
		}
		signDue := w.s.deadline(w.now, w.s.limitsFor(w.dir, t).sign)
		if signDue.After(*a.DueAt) {
			signDue = *a.DueAt
		}
		due := *a.DueAt // the clock keeps running: the sub-unit inherits the deadline
		child := &Assignment{TicketID: t.ID, DepartmentID: sub.ID, Lead: a.Lead, Status: AssignDispatched, ParentID: &a.ID,
			DispatchedAt: w.now, SignDueAt: signDue, DueAt: &due, HandleLimit: a.HandleLimit, CreatedAt: w.now, UpdatedAt: w.now}
		a.Status = AssignDelegated
		a.ExtensionPending = false // the sub-unit works to the deadline as it stands
		w.touch(a)
		w.newAs = append(w.newAs, child)
		w.as = append(w.as, child)
		if a.Lead {
			t.LeadDepartmentID = &sub.ID
		}
		w.settle()
		w.event(ActRedispatch, &a.DepartmentID, note, map[string]any{"to": sub.Code})

	case ActReply:
		a := w.mine
		reply, err := w.requireText("reply", req.Reply, MaxAnswerRunes)
		if err != nil {
			return err
		}
		a.Status, a.Reply, a.RepliedAt = AssignReplied, reply, &w.now
		w.touch(a)
		w.settle()
		w.event(ActReply, &a.DepartmentID, reply, nil)

	case ActReturn:
		a := w.mine
		reason, err := w.requireText("reason", req.Reason, MaxNoteRunes)
		if err != nil {
			return err
		}
		a.Status, a.ReturnReason = AssignReturned, reason
		w.touch(a)
		t.ReturnCount++
		w.settle()
		w.event(ActReturn, &a.DepartmentID, reason, nil)

	case ActAcceptReturn, ActRejectReturn:
		a, err := w.pick(req.Department, func(a *Assignment) bool { return a.Status == AssignReturned }, "a pending return")
		if err != nil {
			return err
		}
		if action == ActRejectReturn {
			if note == "" {
				return invalid("empty_note", "note is required: tell the department why the return is refused")
			}
			// Back to where it was, deadline unchanged: departments cannot bounce tickets
			// to stop the clock.
			if a.SignedAt != nil {
				a.Status = AssignSigned
			} else {
				a.Status = AssignDispatched
			}
			w.touch(a)
			w.settle()
			w.event(ActRejectReturn, &a.DepartmentID, note, nil)
			break
		}
		a.Status, a.ExtensionPending = AssignClosed, false
		w.touch(a)
		if a.Lead {
			a.Lead = false
			t.LeadDepartmentID = nil
			for _, b := range w.as {
				if b.active() {
					b.Lead = true
					t.LeadDepartmentID = &b.DepartmentID
					w.touch(b)
					break
				}
			}
		}
		w.settle()
		w.event(ActAcceptReturn, &a.DepartmentID, note, nil)
		if t.Status == StatusRegistered && len(req.Departments) > 0 {
			return w.do(ActDispatch, ActionRequest{Departments: req.Departments, Lead: req.Lead, Note: note})
		}

	case ActApprove:
		answer := strings.TrimSpace(req.Answer)
		if answer == "" {
			answer = w.combinedReply()
		}
		if answer, err = w.requireText("answer", answer, MaxAnswerRunes*2); err != nil {
			return err
		}
		for _, a := range w.as {
			if a.active() {
				a.Status, a.ExtensionPending = AssignClosed, false
				w.touch(a)
			}
		}
		w.complete(answer)
		w.event(ActApprove, nil, note, nil)

	case ActSendBack:
		if note == "" {
			return invalid("empty_note", "note is required: tell the department what is missing from the reply")
		}
		for _, a := range w.as {
			if a.Status == AssignReplied {
				a.Status = AssignSigned
				w.touch(a)
			}
		}
		w.settle()
		w.event(ActSendBack, nil, note, nil)

	case ActRequestExtension:
		a := w.mine
		reason, err := w.requireText("reason", req.Reason, MaxNoteRunes)
		if err != nil {
			return err
		}
		if req.Until == nil {
			return invalid("empty_until", "until (the new deadline, RFC 3339) is required")
		}
		until := req.Until.UTC().Truncate(time.Microsecond)
		cur := a.SignDueAt
		if a.DueAt != nil {
			cur = *a.DueAt
		}
		if !until.After(cur) {
			return invalid("until_not_later", "until %s is not later than the current deadline %s",
				until.In(w.s.opts.Location).Format(time.RFC3339), cur.In(w.s.opts.Location).Format(time.RFC3339))
		}
		if limit := w.s.opts.Calendar.Add(cur, w.s.opts.ExtensionMax); until.After(limit) {
			return invalid("until_too_far", "until %s is more than %s beyond the current deadline %s; the latest allowed is %s",
				until.In(w.s.opts.Location).Format(time.RFC3339), w.s.opts.ExtensionMax,
				cur.In(w.s.opts.Location).Format(time.RFC3339), limit.In(w.s.opts.Location).Format(time.RFC3339))
		}
		a.ExtensionPending, a.ExtensionUntil, a.ExtensionNote = true, &until, reason
		w.touch(a)
		w.event(ActRequestExtension, &a.DepartmentID, reason, map[string]any{"until": until})

	case ActApproveExtension, ActRefuseExtension:
		a, err := w.pick(req.Department, extensionPending, "a pending extension request")
		if err != nil {
			return err
		}
		a.ExtensionPending = false
		data := map[string]any{"until": a.ExtensionUntil}
		if action == ActApproveExtension {
			// Only an approval moves the deadline.
			a.DueAt = a.ExtensionUntil
			if a.Status == AssignDispatched && a.SignDueAt.After(*a.DueAt) {
				a.SignDueAt = *a.DueAt
			}
		} else {
			if note == "" {
				return invalid("empty_note", "note is required: tell the department why the extension is refused")
			}
			a.ExtensionUntil = nil
		}
		w.touch(a)
		w.settle()
		w.event(action, &a.DepartmentID, note, data)

	case ActNote:
		if note == "" {
			return invalid("empty_note", "note is required: it is the whole of this action")
		}
		w.event(ActNote, nil, note, nil)

	case ActUrge:
		if note == "" {
			return invalid("empty_note", "note is required: say what the department must do")
		}
		t.UrgeCount++
		var dept *uint
		if req.Department != "" {
			d, err := w.dir.department(req.Department)
			if err != nil {
				return err
			}
			dept = &d.ID
		}
		w.event(ActUrge, dept, note, nil)

	case ActAnswer:
		answer, err := w.requireText("answer", req.Answer, MaxAnswerRunes)
		if err != nil {
			return err
		}
		w.complete(answer)
		w.event(ActAnswer, nil, answer, nil)

	case ActReopen:
		reason, err := w.requireText("reason", req.Reason, MaxNoteRunes)
		if err != nil {
			return err
		}
		t.Status, t.Open, t.CompletedAt = StatusRegistered, true, nil
		t.LeadDepartmentID, t.DueAt, t.SignDueAt, t.Overdue = nil, nil, nil, false
		t.ReopenCount++
		w.event(ActReopen, nil, reason, nil)

	case ActMerge:
		into := NormalizeNumber(req.Into)
		if into == "" {
			return invalid("empty_into", "into (the number of the original ticket) is required")
		}
		if into == t.Number {
			return invalid("merge_self", "a ticket cannot be merged into itself")
		}
		return w.merge(into, note)

	case ActRefuse:
		reasons, err := w.s.refusalReasons(w.tx)
		if err != nil {
			return err
		}
		var reason *RefusalReason
		for i, rr := range reasons {
			if rr.Code == strings.TrimSpace(req.Reason) {
				reason = &reasons[i]
			}
		}
		if reason == nil {
			codes := make([]string, 0, len(reasons))
			for _, rr := range reasons {
				codes = append(codes, rr.Code)
			}
			return invalid("unknown_reason", "refusal reason %q is not one of the configured reasons: %s", req.Reason, strings.Join(codes, ", "))
		}
		t.Status, t.Open, t.RefusalReason = StatusRefused, false, reason.Code
		t.Answer = reason.Name
		if note != "" {
			t.Answer += "。" + note
		}
		t.CompletedAt = &w.now
		w.event(ActRefuse, nil, note, map[string]any{"reason": reason.Code, "reason_name": reason.Name})
	}
	return nil
}

// pick finds the assignment an arbitration or decision is about: the one of department
// code, or the only one that matches.
func (w *work) pick(code string, match func(*Assignment) bool, what string) (*Assignment, error) {
	var found []*Assignment
	for _, a := range w.as {
		if !match(a) {
			continue
		}
		if code != "" {
			if d, ok := w.dir.deptCode[code]; !ok || d.ID != a.DepartmentID {
				continue
			}
		}
		found = append(found, a)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && code != "":
		return nil, api.Errorf(api.ErrConflict, "nothing_pending", "department %q has no %s on ticket %s", code, what, w.t.Number)
	case len(found) == 0:
		return nil, api.Errorf(api.ErrConflict, "nothing_pending", "ticket %s has no %s", w.t.Number, what)
	}
	return nil, invalid("ambiguous_department", "several departments have %s on ticket %s; name one in department", what, w.t.Number)
}

func (w *work) combinedReply() string {
	var lead string
	var others []string
	for _, a := range w.as {
		if a.Status != AssignReplied || a.Reply == "" {
			continue
		}
		if a.Lead {
			lead = a.Reply
		} else {
			name := ""
			if d, ok := w.dir.depts[a.DepartmentID]; ok {
				name = d.Name + "："
			}
			others = append(others, name+a.Reply)
		}
	}
	return strings.TrimSpace(strings.Join(append([]string{lead}, others...), "\n"))
}

func (w *work) complete(answer string) {
	w.t.Status, w.t.Open, w.t.Answer, w.t.CompletedAt = StatusCompleted, false, answer, &w.now
	w.t.Overdue = false
}

// settle derives the ticket's status and deadlines from its assignments after a change.
func (w *work) settle() {
	t := w.t
	var active []*Assignment
	for _, a := range w.as {
		if a.active() {
			active = append(active, a)
		}
	}
	t.Status = statusFromAssignments(active)
	if t.Status == StatusRegistered {
		// Every department is gone: back at the desk for a fresh dispatch.
		t.LeadDepartmentID, t.SignDueAt, t.DueAt, t.Overdue = nil, nil, nil, false
		return
	}
	var signDue, due *time.Time
	for _, a := range active {
		if a.Status == AssignDispatched && (signDue == nil || a.SignDueAt.After(*signDue)) {
			x := a.SignDueAt
			signDue = &x
		}
		if a.DueAt != nil && (due == nil || a.DueAt.After(*due)) {
			x := *a.DueAt
			due = &x
		}
	}
	t.SignDueAt, t.DueAt = signDue, due
	if t.Overdue && !late(t, w.now) {
		t.Overdue = false // an approved extension lifts it; OverdueAt keeps the history
	}
}

func (w *work) merge(into, note string) error {
	var orig Ticket
	err := w.tx.Where("number = ?", into).Take(&orig).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && orig.ID == w.t.ID) {
		return invalid("unknown_original", "original ticket %s not found", into)
	}
	if err != nil {
		return fmt.Errorf("load original %s: %w", into, err)
	}
	if orig.Status == StatusMerged || orig.Status == StatusRefused {
		return invalid("original_closed", "ticket %s is %s; merge into the ticket it was merged into, or a live one", into, orig.Status)
	}
	w.t.Status, w.t.Open, w.t.MergedIntoID = StatusMerged, false, &orig.ID
	w.event(ActMerge, nil, note, map[string]any{"into": orig.Number})
	actor, now, dup := w.p.Actor(), w.now, w.t.Number
	w.extra = func(tx *gorm.DB) error {
		// Record the duplicate on the original too, so its handlers see it.
		var o Ticket
		if err := tx.Where("id = ?", orig.ID).Take(&o).Error; err != nil {
			return fmt.Errorf("reload original %s: %w", into, err)
		}
		old := o.Version
		ev := w.s.newEvent(&o, now, actor, ActMerge, o.Status, note, map[string]any{"duplicate": dup})
		o.Version++
		o.UpdatedAt = now
		if err := tx.Create(ev).Error; err != nil {
			return fmt.Errorf("append to original %s: %w", into, err)
		}
		res := tx.Model(&Ticket{}).Where("id = ? AND version = ?", o.ID, old).
			Updates(map[string]any{"version": o.Version, "event_seq": o.EventSeq, "event_hash": o.EventHash, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("update original %s: %w", into, res.Error)
		}
		if res.RowsAffected == 0 {
			return api.Errorf(api.ErrConflict, "concurrent_change", "ticket %s changed while merging; try again", into)
		}
		return nil
	}
	return nil
}

// save writes the ticket (checking its version), new and changed assignments and the
// new events.
func (w *work) save(tx *gorm.DB) error {
	t := w.t
	t.Version = w.version + 1
	t.UpdatedAt = w.now
	res := tx.Model(&Ticket{}).Where("id = ? AND version = ?", t.ID, w.version).Select("*").Omit("id", "created_at", "number").Updates(t)
	if res.Error != nil {
		return fmt.Errorf("update ticket %s: %w", t.Number, res.Error)
	}
	if res.RowsAffected == 0 {
		return api.Errorf(api.ErrConflict, "concurrent_change",
			"ticket %s was changed by someone else at the same moment; reload and try again", t.Number)
	}
	for a := range w.touched {
		if a.ID == 0 {
			continue
		}
		a.UpdatedAt = w.now
		if err := tx.Model(a).Select("*").Omit("id", "created_at", "ticket_id").Updates(a).Error; err != nil {
			return fmt.Errorf("update assignment: %w", err)
		}
	}
	for _, a := range w.newAs {
		if err := tx.Create(a).Error; err != nil {
			return fmt.Errorf("insert assignment: %w", err)
		}
	}
	if len(w.events) > 0 {
		if err := tx.Create(w.events).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return api.Errorf(api.ErrConflict, "concurrent_change", "ticket %s was changed by someone else at the same moment; reload and try again", t.Number)
			}
			return fmt.Errorf("append events: %w", err)
		}
	}
	if w.extra != nil {
		return w.extra(tx)
	}
	return nil
}

// limitsFor resolves the sign-for and handling limits of a ticket from its category
// chain and urgency, falling back to the configured defaults.
type limitPair struct{ sign, handle calendar.Limit }

func (s *Store) limitsFor(dir *directory, t *Ticket) limitPair {
	d := s.opts.Limits
	out := limitPair{d.Sign, d.Handle}
	switch t.Urgency {
	case UrgencyUrgent:
		out = limitPair{d.UrgentSign, d.UrgentHandle}
	case UrgencyCritical:
		out = limitPair{d.CriticalSign, d.CriticalHandle}
	}
	c, ok := dir.cats[t.CategoryID]
	if !ok {
		return out
	}
	pick := func(get func(*Category) string, dflt calendar.Limit) calendar.Limit {
		for _, x := range dir.categoryChain(c) {
			if v := get(x); v != "" {
				if l, err := calendar.ParseLimit(v); err == nil && !l.IsZero() {
					return l
				}
				s.opts.Log.Warn("category has an unreadable limit; using the default", "category", x.Code, "limit", v)
			}
		}
		return dflt
	}
	switch t.Urgency {
	case UrgencyUrgent:
		out.sign = pick(func(c *Category) string { return c.UrgentSignLimit }, out.sign)
		out.handle = pick(func(c *Category) string { return c.UrgentHandleLimit }, out.handle)
	case UrgencyCritical:
		out.sign = pick(func(c *Category) string { return c.CriticalSignLimit }, out.sign)
		out.handle = pick(func(c *Category) string { return c.CriticalHandleLimit }, out.handle)
	default:
		out.sign = pick(func(c *Category) string { return c.SignLimit }, out.sign)
		out.handle = pick(func(c *Category) string { return c.HandleLimit }, out.handle)
	}
	return out
}

func mustLimit(s string) calendar.Limit {
	l, err := calendar.ParseLimit(s)
	if err != nil {
		return calendar.Limit{N: 5, Unit: calendar.WorkingDays}
	}
	return l
}

// dispatchPlan is a validated dispatch: departments, the lead first.
type dispatchPlan struct {
	depts []*Department
	note  string
}

func (s *Store) planDispatch(dir *directory, t *Ticket, cat *Category, req DispatchRequest) (*dispatchPlan, error) {
	plan := &dispatchPlan{note: req.Note}
	seen := map[uint]bool{}
	for _, code := range req.Departments {
		d, err := dir.department(code)
		if err != nil {
			return nil, err
		}
		if seen[d.ID] {
			return nil, invalid("duplicate_department", "department %q is named twice", code)
		}
		seen[d.ID] = true
		plan.depts = append(plan.depts, d)
	}
	if len(plan.depts) == 0 {
		// No department named: the category's default, else the government of the
		// ticket's location (兜底).
		if d := dir.defaultDepartment(cat); d != nil {
			plan.depts = []*Department{d}
		} else if g := dir.governmentFor(t); g != nil {
			plan.depts = []*Department{g}
		} else {
			return nil, invalid("no_department", "no department named, category %q has no default department and the ticket has no district to fall back to", cat.Code)
		}
	}
	if len(plan.depts) > 1 {
		if req.Lead == "" {
			return nil, invalid("no_lead", "a dispatch to several departments (并联) names the lead one in lead")
		}
		idx := -1
		for i, d := range plan.depts {
			if d.Code == strings.TrimSpace(req.Lead) {
				idx = i
			}
		}
		if idx < 0 {
			return nil, invalid("lead_not_dispatched", "lead %q is not among the departments dispatched to", req.Lead)
		}
		plan.depts[0], plan.depts[idx] = plan.depts[idx], plan.depts[0]
	} else if req.Lead != "" && req.Lead != plan.depts[0].Code {
		return nil, invalid("lead_not_dispatched", "lead %q is not among the departments dispatched to", req.Lead)
	}
	return plan, nil
}

// applyDispatch makes the assignments of a dispatch and moves the ticket on. Every
// department gets the same limits, so for a parallel dispatch the ticket's deadline is the
// longest single one.
func (s *Store) applyDispatch(t *Ticket, plan *dispatchPlan, now time.Time, actor string) ([]*Assignment, *Event, error) {
	dir := s.dirs.dir
	if dir == nil {
		return nil, nil, errors.New("dispatch: directory not loaded")
	}
	lim := s.limitsFor(dir, t)
	signDue := s.deadline(now, lim.sign)
	var due *time.Time
	if s.opts.ClockFrom == ClockFromDispatch {
		d := s.deadline(now, lim.handle)
		due = &d
	}
	var as []*Assignment
	var codes []string
	for i, d := range plan.depts {
		a := &Assignment{DepartmentID: d.ID, Lead: i == 0, Status: AssignDispatched, DispatchedAt: now, SignDueAt: signDue,
			HandleLimit: lim.handle.String(), CreatedAt: now, UpdatedAt: now}
		if due != nil {
			x := *due
			a.DueAt = &x
		}
		as = append(as, a)
		codes = append(codes, d.Code)
	}
	from := t.Status
	t.Status = StatusDispatched
	t.LeadDepartmentID = &plan.depts[0].ID
	t.DispatchedAt = &now
	t.SignDueAt = &signDue
	t.DueAt = due
	data := map[string]any{"departments": codes, "lead": codes[0], "sign_due_at": signDue, "handle_limit": lim.handle.String()}
	if due != nil {
		data["due_at"] = *due
	}
	ev := s.newEvent(t, now, actor, ActDispatch, from, plan.note, data)
	ev.DepartmentID = &plan.depts[0].ID
	s.link(t.Number, ev)
	t.EventHash = ev.Hash
	return as, ev, nil
}

// deadline is start plus l on the calendar, in UTC: every time is stored in UTC so that
// SQLite, which compares times as text, orders them correctly.
func (s *Store) deadline(start time.Time, l calendar.Limit) time.Time {
	return s.opts.Calendar.Add(start, l).UTC().Truncate(time.Microsecond)
}
