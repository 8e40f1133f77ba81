package tickets

import (
	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

// Status is where a ticket stands in the workflow.
type Status string

const (
	StatusRegistered Status = "registered" // 受理: at the central desk, to be dispatched
	StatusDispatched Status = "dispatched" // 派单: waiting for departments to sign for it
	StatusHandling   Status = "handling"   // 签收/办理: departments at work
	StatusReplied    Status = "replied"    // 回复: replies waiting for verification (审核)
	StatusReturned   Status = "returned"   // 退单: a return waiting for arbitration (审定)
	StatusCompleted  Status = "completed"  // 办结
	StatusRefused    Status = "refused"    // 不予受理
	StatusMerged     Status = "merged"     // 重复件, merged into its original
)

// Statuses lists every status in workflow order.
var Statuses = []Status{StatusRegistered, StatusDispatched, StatusHandling, StatusReplied, StatusReturned, StatusCompleted, StatusRefused, StatusMerged}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Open reports whether work on the ticket is still to be done.
func (s Status) Open() bool {
	return s != StatusCompleted && s != StatusRefused && s != StatusMerged
}

// Action is a workflow step. Each is recorded as a timeline event.
type Action string

const (
	ActRegister         Action = "register"          // 受理
	ActDispatch         Action = "dispatch"          // 派单
	ActSign             Action = "sign"              // 签收
	ActRedispatch       Action = "redispatch"        // 下派 to a sub-unit
	ActReply            Action = "reply"             // 回复
	ActReturn           Action = "return"            // 退单
	ActAcceptReturn     Action = "accept_return"     // 审定: return accepted, back to the desk
	ActRejectReturn     Action = "reject_return"     // 审定: return refused, clock still running
	ActApprove          Action = "approve"           // 审核 passed: 办结
	ActSendBack         Action = "send_back"         // 审核 failed: back to the departments
	ActRequestExtension Action = "request_extension" // 延期申请
	ActApproveExtension Action = "approve_extension"
	ActRefuseExtension  Action = "refuse_extension"
	ActUrge             Action = "urge"   // 督办
	ActAnswer           Action = "answer" // 直接办结 (consultations)
	ActReopen           Action = "reopen"
	ActMerge            Action = "merge"  // 重复件
	ActRefuse           Action = "refuse" // 不予受理
	ActOverdue          Action = "overdue"
	ActAttach           Action = "attach"
	// ActNote adds a note to the timeline without changing anything else (备注): a
	// follow-up message from the citizen, a call hand-off, what a phone call found out.
	ActNote Action = "note"
)

// rule says who may take an action and from which ticket statuses.
type rule struct {
	from  []Status
	roles []auth.Role
	// departmental actions are taken by a department on its own assignment.
	departmental bool
}

var (
	desk            = []auth.Role{auth.RoleOperator, auth.RoleSupervisor}
	supervisorRoles = []auth.Role{auth.RoleSupervisor}
	department      = []auth.Role{auth.RoleDepartment}
	anyOpen         = []Status{StatusRegistered, StatusDispatched, StatusHandling, StatusReplied, StatusReturned}
	atDept          = []Status{StatusDispatched, StatusHandling, StatusReplied, StatusReturned}
)

// rules is the state machine. An action not listed for the current status is a 409 that
// names the status; an action by the wrong role is a 403.
var rules = map[Action]rule{
	ActDispatch:         {from: []Status{StatusRegistered}, roles: desk},
	ActSign:             {from: []Status{StatusDispatched, StatusHandling, StatusReturned}, roles: department, departmental: true},
	ActRedispatch:       {from: []Status{StatusDispatched, StatusHandling, StatusReturned}, roles: department, departmental: true},
	ActReply:            {from: []Status{StatusHandling, StatusReturned}, roles: department, departmental: true},
	ActReturn:           {from: []Status{StatusDispatched, StatusHandling, StatusReturned}, roles: department, departmental: true},
	ActAcceptReturn:     {from: []Status{StatusReturned}, roles: desk},
	ActRejectReturn:     {from: []Status{StatusReturned}, roles: desk},
	ActApprove:          {from: []Status{StatusReplied}, roles: desk},
	ActSendBack:         {from: []Status{StatusReplied}, roles: desk},
	ActRequestExtension: {from: []Status{StatusDispatched, StatusHandling, StatusReturned}, roles: department, departmental: true},
	ActApproveExtension: {from: atDept, roles: supervisorRoles},
	ActRefuseExtension:  {from: atDept, roles: supervisorRoles},
	ActUrge:             {from: atDept, roles: supervisorRoles},
	ActAnswer:           {from: []Status{StatusRegistered}, roles: desk},
	ActReopen:           {from: []Status{StatusCompleted}, roles: desk},
	ActMerge:            {from: []Status{StatusRegistered}, roles: desk},
	ActRefuse:           {from: []Status{StatusRegistered}, roles: desk},
	ActAttach:           {from: anyOpen, roles: []auth.Role{auth.RoleOperator, auth.RoleSupervisor, auth.RoleDepartment}},
	ActNote:             {from: Statuses, roles: []auth.Role{auth.RoleOperator, auth.RoleSupervisor, auth.RoleDepartment}},
}

// Actions are the workflow actions that can be requested through the API, in the order
// the workflow usually takes them.
var Actions = []Action{ActDispatch, ActSign, ActRedispatch, ActReply, ActReturn, ActAcceptReturn, ActRejectReturn,
	ActApprove, ActSendBack, ActRequestExtension, ActApproveExtension, ActRefuseExtension, ActUrge, ActAnswer,
	ActReopen, ActMerge, ActRefuse, ActNote}

func (r rule) allows(s Status) bool {
	for _, f := range r.from {
		if f == s {
			return true
		}
	}
	return false
}

// permit answers whether p may take action on ticket t (with assignments as) as it
// stands now, and if not, why: a 403 for the wrong role, a 409 naming what stands in the
// way. Act enforces it and View.Actions lists what it allows, so that a page offers a
// control exactly when the API would accept the action. For departmental actions it
// returns the acting department's own assignment.
//
// It decides from the ticket alone; what the request carries (a reason, a department,
// a date) is checked when the action is done.
func (s *Store) permit(dir *directory, p *auth.Principal, t *Ticket, as []*Assignment, action Action) (*Assignment, error) {
	r, ok := rules[action]
	if !ok || action == ActAttach {
		return nil, api.Errorf(api.ErrNotFound, "unknown_action", "unknown action %q; one of %v", action, Actions)
	}
	if !p.Is(r.roles...) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "a %s may not %s a ticket", p.Role, action)
	}
	if !r.allows(t.Status) {
		return nil, api.Errorf(api.ErrConflict, "illegal_transition", "ticket %s is %s; it cannot be %s now", t.Number, t.Status, pastTense(action))
	}
	var mine *Assignment
	if r.departmental {
		var err error
		if mine, err = ownAssignment(p, t, as); err != nil {
			return nil, err
		}
	}
	working := mine != nil && (mine.Status == AssignDispatched || mine.Status == AssignSigned)
	switch action {
	case ActSign:
		switch {
		case mine.Status == AssignSigned:
			return nil, api.Errorf(api.ErrConflict, "already_signed", "your department has already signed for ticket %s", t.Number)
		case mine.Status != AssignDispatched:
			return nil, api.Errorf(api.ErrConflict, "cannot_sign", "your department's assignment on ticket %s is %s; there is nothing to sign for", t.Number, mine.Status)
		}
	case ActReply:
		if mine.Status != AssignSigned {
			return nil, api.Errorf(api.ErrConflict, "not_signed", "your department must sign for ticket %s before replying (assignment is %s)", t.Number, mine.Status)
		}
	case ActReturn:
		if !working {
			return nil, api.Errorf(api.ErrConflict, "cannot_return", "your department's assignment on ticket %s is %s; it cannot be returned now", t.Number, mine.Status)
		}
	case ActRedispatch:
		if !working {
			return nil, api.Errorf(api.ErrConflict, "cannot_redispatch", "your department's assignment on ticket %s is %s; it cannot be handed down now", t.Number, mine.Status)
		}
		if !dir.hasSubunits(dir.depts[mine.DepartmentID]) {
			return nil, api.Errorf(api.ErrConflict, "no_subunits", "your department has no active sub-unit to hand ticket %s down to", t.Number)
		}
	case ActRequestExtension:
		if !working {
			return nil, api.Errorf(api.ErrConflict, "cannot_extend", "your department's assignment on ticket %s is %s; there is no deadline to extend", t.Number, mine.Status)
		}
		if mine.ExtensionPending {
			return nil, api.Errorf(api.ErrConflict, "extension_pending", "an extension request for ticket %s is already waiting for a decision", t.Number)
		}
	case ActApproveExtension, ActRefuseExtension:
		if !anyAssignment(as, extensionPending) {
			return nil, api.Errorf(api.ErrConflict, "nothing_pending", "ticket %s has no pending extension request", t.Number)
		}
	case ActAnswer:
		if k := dir.kindOf(dir.cats[t.CategoryID]); k != KindConsultation {
			return nil, api.Errorf(api.ErrConflict, "not_consultation", "only consultations can be answered directly; ticket %s is a %s", t.Number, k)
		}
	case ActRefuse:
		if len(s.opts.RefusalReasons) == 0 {
			return nil, api.Errorf(api.ErrConflict, "no_refusal_reasons", "no refusal reasons are configured (tickets.refusal_reasons)")
		}
	}
	return mine, nil
}

// allowed lists the actions permit allows p on the ticket, in the workflow's order.
func (s *Store) allowed(dir *directory, p *auth.Principal, t *Ticket, as []*Assignment) []Action {
	var out []Action
	for _, a := range Actions {
		if _, err := s.permit(dir, p, t, as, a); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// ownAssignment is the active assignment of p's own department (not of a sub-unit it
// handed the ticket to).
func ownAssignment(p *auth.Principal, t *Ticket, as []*Assignment) (*Assignment, error) {
	if p.Role != auth.RoleDepartment || p.DepartmentID == 0 {
		return nil, api.Errorf(api.ErrForbidden, "department_only", "only a department user can do this, on its own assignment")
	}
	for _, a := range as {
		if a.DepartmentID == p.DepartmentID && a.active() {
			return a, nil
		}
	}
	// The department sees the ticket through a sub-unit, or its share is finished.
	return nil, api.Errorf(api.ErrConflict, "no_assignment",
		"ticket %s has no open assignment for your department (it is %s)", t.Number, t.Status)
}

// extensionPending matches an assignment whose extension request waits for a decision;
// a request on an assignment that has since closed waits for nothing.
func extensionPending(a *Assignment) bool { return a.ExtensionPending && a.active() }

func anyAssignment(as []*Assignment, match func(*Assignment) bool) bool {
	for _, a := range as {
		if match(a) {
			return true
		}
	}
	return false
}

// statusFromAssignments derives the ticket's status while it is with departments: a
// pending return needs the desk first; then it waits for the slowest department.
func statusFromAssignments(as []*Assignment) Status {
	var dispatched, signed, replied, returned int
	for _, a := range as {
		switch a.Status {
		case AssignDispatched:
			dispatched++
		case AssignSigned:
			signed++
		case AssignReplied:
			replied++
		case AssignReturned:
			returned++
		}
	}
	switch {
	case returned > 0:
		return StatusReturned
	case dispatched > 0:
		return StatusDispatched
	case signed > 0:
		return StatusHandling
	case replied > 0:
		return StatusReplied
	}
	return StatusRegistered
}

// active reports whether an assignment still has work (or a decision) pending.
func (a *Assignment) active() bool {
	return a.Status != AssignClosed && a.Status != AssignDelegated
}
