package tickets

import (
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
