package ivr

import (
	"slices"
	"sync"
	"time"

	"github.com/rexian/rexian/config"
)

// AgentState is where an operator is in the queue's eyes.
type AgentState string

const (
	AgentReady   AgentState = "ready"
	AgentPaused  AgentState = "paused"
	AgentOffered AgentState = "offered" // their phone is ringing
	AgentBusy    AgentState = "busy"    // talking
	AgentWrapUp  AgentState = "wrap_up" // finishing the last call's ticket
)

// Pause reasons the controller sets by itself.
const (
	PauseNoAnswer    = "no_answer"
	PauseUnreachable = "unreachable"
)

// Agent is an operator logged into the queue with a phone.
type Agent struct {
	User      string     `json:"user"`
	Name      string     `json:"name"`
	Phone     string     `json:"phone"`
	Skills    []string   `json:"skills"`
	State     AgentState `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Since     time.Time  `json:"since"`
	IdleSince time.Time  `json:"idle_since"`
	Calls     int        `json:"calls"`
	CallID    uint64     `json:"call_id,omitempty"`
	// Until is when a wrap-up ends by itself (zero in other states).
	Until time.Time `json:"until,omitzero"`
}

func (a *Agent) serves(skill string) bool {
	return skill == "" || len(a.Skills) == 0 || slices.Contains(a.Skills, skill)
}

// waiter is a caller waiting in a queue: on the line, or called back later (virtual
// hold). offer receives the agents to ring when it is the caller's turn.
type waiter struct {
	key     string // call record id or channel id, unique while waiting
	queue   config.Queue
	since   time.Time
	caller  string
	hotline string
	line    string
	virtual bool
	offer   chan []*Agent
	// wake, when set, tells the waiting call that an offer is in (it may be playing an
	// announcement and not watching offer).
	wake func()
}

// Waiting is a waiting caller as live screens show it.
type Waiting struct {
	Key      string    `json:"key"`
	Queue    string    `json:"queue"`
	Caller   string    `json:"caller"`
	Hotline  string    `json:"hotline"`
	Line     string    `json:"line"`
	Since    time.Time `json:"since"`
	Virtual  bool      `json:"callback"`
	Position int       `json:"position"`
}

// acd is the automatic call distributor: the operators and the waiting callers of this
// controller. It is the authority for its calls; Redis holds a copy for screens and other
// instances (see live.go), so calls keep being answered when Redis is down.
type acd struct {
	mu      sync.Mutex
	now     func() time.Time
	agents  map[string]*Agent
	waiting []*waiter
	timers  map[string]*time.Timer
	// aht is the moving average handling time, for the caller's expected wait.
	aht     time.Duration
	changed func() // called (outside the lock) after every change
	// spell, when set, receives every state an operator leaves, with how long it lasted
	// (for the figures); called with mu held, so it must not block.
	spell func(Spell)
}

// set moves an operator to a state, handing the state left to the spell log. Called
// with q.mu held.
func (q *acd) set(a *Agent, st AgentState, reason string, now time.Time) {
	q.closeSpell(a, now)
	a.State, a.Reason, a.Since, a.Until = st, reason, now, time.Time{}
}

// closeSpell logs the operator's current state up to now. Called with q.mu held.
func (q *acd) closeSpell(a *Agent, now time.Time) {
	if q.spell == nil || a.Since.IsZero() || !now.After(a.Since) {
		return
	}
	q.spell(Spell{Operator: a.User, State: a.State, Reason: a.Reason, CallID: a.CallID,
		StartedAt: a.Since.UTC(), EndedAt: now.UTC(), MS: now.Sub(a.Since).Milliseconds()})
}

func newACD(now func() time.Time, changed func()) *acd {
	if changed == nil {
		changed = func() {}
	}
	return &acd{now: now, agents: map[string]*Agent{}, timers: map[string]*time.Timer{}, aht: 3 * time.Minute, changed: changed}
}

// login puts an operator in the queue, ready; logging in again changes the phone or
// skills without losing the state of a call in progress.
func (q *acd) login(user, name, phone string, skills []string) Agent {
	q.mu.Lock()
	now := q.now()
	a := q.agents[user]
	if a == nil {
		a = &Agent{User: user, State: AgentReady, Since: now, IdleSince: now}
		q.agents[user] = a
	}
	a.Name, a.Phone, a.Skills = name, phone, slices.Clone(skills)
	if a.State == AgentPaused {
		q.set(a, AgentReady, "", now)
	}
	out := *a
	q.match()
	q.mu.Unlock()
	q.changed()
	return out
}

// logout takes an operator out of the queue. A call in progress goes on; the operator is
// simply not offered another.
func (q *acd) logout(user string) bool {
	q.mu.Lock()
	a, ok := q.agents[user]
	if ok {
		q.closeSpell(a, q.now())
	}
	delete(q.agents, user)
	if t := q.timers[user]; t != nil {
		t.Stop()
		delete(q.timers, user)
	}
	q.mu.Unlock()
	if ok {
		q.changed()
	}
	return ok
}

// setState is the operator's own ready/paused switch.
func (q *acd) setState(user string, ready bool, reason string) (Agent, bool) {
	q.mu.Lock()
	a := q.agents[user]
	if a == nil {
		q.mu.Unlock()
		return Agent{}, false
	}
	now := q.now()
	switch {
	case ready && (a.State == AgentPaused || a.State == AgentWrapUp):
		// Ending a wrap-up early is the same switch: the operator is done.
		q.set(a, AgentReady, "", now)
		a.IdleSince = now
		if t := q.timers[user]; t != nil {
			t.Stop()
			delete(q.timers, user)
		}
	case !ready && (a.State == AgentReady || a.State == AgentWrapUp || a.State == AgentPaused && a.Reason != reason):
		q.set(a, AgentPaused, reason, now)
		if t := q.timers[user]; t != nil {
			t.Stop()
			delete(q.timers, user)
		}
	}
	out := *a
	q.match()
	q.mu.Unlock()
	q.changed()
	return out, true
}

// servable reports whether any logged-in operator could take calls of the queue now or
// soon (ready, talking, wrapping up); paused ones do not count, so a caller is not kept
// waiting for an empty room.
func (q *acd) servable(queue config.Queue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range q.agents {
		if a.serves(queue.Skill) && a.State != AgentPaused {
			return true
		}
	}
	return false
}

// enqueue adds a caller in arrival order (a re-queued caller keeps their place) and hands
// out operators.
func (q *acd) enqueue(w *waiter) {
	q.mu.Lock()
	i, _ := slices.BinarySearchFunc(q.waiting, w.since, func(x *waiter, t time.Time) int { return x.since.Compare(t) })
	q.waiting = slices.Insert(q.waiting, i, w)
	q.match()
	q.mu.Unlock()
	q.changed()
}

// leave takes a caller out of the queue. Operators offered to it but not yet rung go
// back to ready.
func (q *acd) leave(w *waiter) {
	q.mu.Lock()
	q.waiting = slices.DeleteFunc(q.waiting, func(x *waiter) bool { return x == w })
	select {
	case agents := <-w.offer:
		for _, a := range agents {
			q.release(a)
		}
	default:
	}
	q.match()
	q.mu.Unlock()
	q.changed()
}

// markVirtual records that a waiting caller hung up to be called back in turn.
func (q *acd) markVirtual(w *waiter) {
	q.mu.Lock()
	w.virtual = true
	w.wake = nil // the call-back session watches offer itself
	q.mu.Unlock()
	q.changed()
}

// requeueFront puts a call-back whose attempt failed back just ahead of where it was.
func (q *acd) requeueFront(w *waiter) {
	q.mu.Lock()
	w.since = w.since.Add(-time.Second)
	q.mu.Unlock()
	q.enqueue(w)
}

// position is the caller's 1-based place among those waiting for the same queue.
func (q *acd) position(w *waiter) (pos int, eta time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, x := range q.waiting {
		if x.queue.Name == w.queue.Name {
			pos++
		}
		if x == w {
			break
		}
	}
	staff := 0
	for _, a := range q.agents {
		if a.serves(w.queue.Skill) && a.State != AgentPaused {
			staff++
		}
	}
	if staff == 0 {
		staff = 1
	}
	return pos, time.Duration(pos) * q.aht / time.Duration(staff)
}

// match hands ready operators to waiting callers in arrival order. Called with q.mu held.
func (q *acd) match() {
	for i := 0; i < len(q.waiting); {
		w := q.waiting[i]
		var picked []*Agent
		for _, a := range q.agents {
			if a.State != AgentReady || !a.serves(w.queue.Skill) {
				continue
			}
			if w.queue.Strategy == config.StrategyRingAll {
				picked = append(picked, a)
				continue
			}
			// Longest idle first; the user name breaks ties so the order is stable.
			if len(picked) == 0 || a.IdleSince.Before(picked[0].IdleSince) ||
				(a.IdleSince.Equal(picked[0].IdleSince) && a.User < picked[0].User) {
				picked = append(picked[:0], a)
			}
		}
		if len(picked) == 0 {
			i++
			continue
		}
		now := q.now()
		for _, a := range picked {
			q.set(a, AgentOffered, "", now)
		}
		q.waiting = slices.Delete(q.waiting, i, i+1)
		w.offer <- picked // capacity 1 and only one offer is ever outstanding
		if w.wake != nil {
			w.wake()
		}
	}
}

// release returns an offered operator who was not rung (or lost a ring-all race) to
// ready, keeping their idle time. Called with q.mu held.
func (q *acd) release(a *Agent) {
	if cur := q.agents[a.User]; cur == a && a.State == AgentOffered {
		q.set(a, AgentReady, "", q.now())
	}
}

// answered records that a ringing operator took the call.
func (q *acd) answered(a *Agent, callID uint64) {
	q.mu.Lock()
	if q.agents[a.User] == a {
		q.set(a, AgentBusy, "", q.now())
		a.CallID = callID
	}
	q.mu.Unlock()
	q.changed()
}

// missed records operators who did not answer (or whose phones failed): they are paused
// so that the next caller is not rung to an empty desk. Others offered in the same
// ring-all go back to ready.
func (q *acd) missed(paused []*Agent, reason string, released []*Agent) {
	q.mu.Lock()
	now := q.now()
	for _, a := range paused {
		if q.agents[a.User] == a && a.State == AgentOffered {
			q.set(a, AgentPaused, reason, now)
		}
	}
	for _, a := range released {
		q.release(a)
	}
	q.match()
	q.mu.Unlock()
	q.changed()
}

// finished records the end of a conversation: the operator wraps up, then is ready again.
func (q *acd) finished(a *Agent, talked time.Duration, wrapUp time.Duration) {
	q.mu.Lock()
	if talked > 0 {
		q.aht = (q.aht*9 + talked) / 10
	}
	if q.agents[a.User] != a {
		q.mu.Unlock()
		return
	}
	now := q.now()
	a.Calls++
	if wrapUp <= 0 {
		q.set(a, AgentReady, "", now)
		a.IdleSince, a.CallID = now, 0
		q.match()
		q.mu.Unlock()
		q.changed()
		return
	}
	q.set(a, AgentWrapUp, "", now)
	a.CallID, a.Until = 0, now.Add(wrapUp)
	user := a.User
	if t := q.timers[user]; t != nil {
		t.Stop()
	}
	q.timers[user] = time.AfterFunc(wrapUp, func() {
		q.mu.Lock()
		delete(q.timers, user)
		if cur := q.agents[user]; cur == a && a.State == AgentWrapUp {
			n := q.now()
			q.set(a, AgentReady, "", n)
			a.IdleSince = n
			q.match()
		}
		q.mu.Unlock()
		q.changed()
	})
	q.mu.Unlock()
	q.changed()
}

// snapshot copies the state for screens.
func (q *acd) snapshot() ([]Agent, []Waiting) {
	q.mu.Lock()
	defer q.mu.Unlock()
	agents := make([]Agent, 0, len(q.agents))
	for _, a := range q.agents {
		c := *a
		c.Skills = slices.Clone(a.Skills)
		agents = append(agents, c)
	}
	slices.SortFunc(agents, func(a, b Agent) int {
		if a.User < b.User {
			return -1
		}
		if a.User > b.User {
			return 1
		}
		return 0
	})
	waiting := make([]Waiting, 0, len(q.waiting))
	pos := map[string]int{}
	for _, w := range q.waiting {
		pos[w.queue.Name]++
		waiting = append(waiting, Waiting{
			Key: w.key, Queue: w.queue.Name, Caller: w.caller, Hotline: w.hotline, Line: w.line,
			Since: w.since, Virtual: w.virtual, Position: pos[w.queue.Name],
		})
	}
	return agents, waiting
}

// restore brings back an operator as a previous run of rexian left them (from the live
// store): paused ones stay paused unless the pause was the controller's own (a phone that
// did not answer), talking ones stay busy with their call until the call's re-adoption
// claims it or finds it ended (settle), the rest are ready.
func (q *acd) restore(a Agent) {
	q.mu.Lock()
	now := q.now()
	r := &Agent{User: a.User, Name: a.Name, Phone: a.Phone, Skills: slices.Clone(a.Skills), Calls: a.Calls,
		State: AgentReady, Since: now, IdleSince: a.IdleSince}
	if r.IdleSince.IsZero() {
		r.IdleSince = now
	}
	switch {
	case a.State == AgentPaused && a.Reason != PauseNoAnswer && a.Reason != PauseUnreachable:
		r.State, r.Reason, r.Since = AgentPaused, a.Reason, a.Since
	case a.State == AgentBusy && a.CallID != 0:
		r.State, r.Since, r.CallID = AgentBusy, a.Since, a.CallID
	}
	if _, ok := q.agents[a.User]; !ok {
		q.agents[a.User] = r
	}
	q.match()
	q.mu.Unlock()
	q.changed()
}

// claim finds the operator of a conversation taken over after a restart and marks them
// busy with it (nil when they are not logged in: the conversation is watched anyway).
func (q *acd) claim(user string, callID uint64) *Agent {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[user]
	if a == nil {
		return nil
	}
	if a.State != AgentBusy || a.CallID != callID {
		q.set(a, AgentBusy, "", q.now())
		a.CallID = callID
	}
	return a
}

// settle frees the operators restored busy whose call no controller took over (it ended
// while rexian was down): keep reports whether a call id is still being talked on.
func (q *acd) settle(keep func(callID uint64) bool) {
	q.mu.Lock()
	now := q.now()
	freed := 0
	for _, a := range q.agents {
		if a.State == AgentBusy && a.CallID != 0 && !keep(a.CallID) {
			q.set(a, AgentReady, "", now)
			a.IdleSince, a.CallID = now, 0
			freed++
		}
	}
	if freed > 0 {
		q.match()
	}
	q.mu.Unlock()
	if freed > 0 {
		q.changed()
	}
}

// credit counts a call an operator answered that ended while rexian was down.
func (q *acd) credit(user string) {
	q.mu.Lock()
	if a := q.agents[user]; a != nil {
		a.Calls++
	}
	q.mu.Unlock()
	q.changed()
}

// agent returns a copy of an operator's state.
func (q *acd) agent(user string) (Agent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, ok := q.agents[user]
	if !ok {
		return Agent{}, false
	}
	return *a, true
}

// forget drops the operators (and their wrap-up timers): an instance that stopped
// controlling its nodes must not carry a stale picture into the next take-over, which
// restores it from the live store.
func (q *acd) forget() {
	q.mu.Lock()
	for u, t := range q.timers {
		t.Stop()
		delete(q.timers, u)
	}
	clear(q.agents)
	q.mu.Unlock()
	q.changed()
}

// stop cancels the wrap-up timers (shutdown).
func (q *acd) stop() {
	q.mu.Lock()
	for u, t := range q.timers {
		t.Stop()
		delete(q.timers, u)
	}
	q.mu.Unlock()
}
