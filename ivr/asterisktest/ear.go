package asterisktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// Ear hears what callers hear: the RTP audio Asterisk sends to one SIPp media port, read
// beside SIPp through a raw socket (which sees every UDP datagram to 127.0.0.1), so that
// a test can measure silences a caller meets, e.g. while a controller takes over. One
// SIPp run (Citizen.MediaPort) sends all its calls' audio from that port, and Asterisk
// sends each call's from a port of its own: a stream is told by that source port.
//
// A raw socket needs CAP_NET_RAW: NewEar fails without it, and the test decides whether
// to measure nothing or fail.
type Ear struct {
	port int
	conn net.PacketConn
	mu   sync.Mutex
	// heard holds, per Asterisk source port, when each audio packet arrived.
	heard map[int][]time.Time
	done  chan struct{}
}

// NewEar starts hearing the audio sent to a free UDP port on 127.0.0.1 (Port), which a
// Citizen's MediaPort then names. Close stops it.
func (a *Asterisk) NewEar() (*Ear, error) {
	conn, err := net.ListenPacket("ip4:udp", "127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("asterisktest: raw socket for hearing RTP (needs CAP_NET_RAW): %w", err)
	}
	e := &Ear{port: freeUDPPort(a.t), conn: conn, heard: map[int][]time.Time{}, done: make(chan struct{})}
	go e.listen()
	a.t.Cleanup(e.Close)
	return e, nil
}

// Port is the media port SIPp should use.
func (e *Ear) Port() int { return e.port }

// Close stops hearing; what was heard stays readable.
func (e *Ear) Close() {
	_ = e.conn.Close()
	<-e.done
}

func (e *Ear) listen() {
	defer close(e.done)
	buf := make([]byte, 2048)
	for {
		n, _, err := e.conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				time.Sleep(time.Millisecond) // a transient error: keep hearing
				continue
			}
			return
		}
		at := time.Now()
		// Go strips the IPv4 header: buf holds the UDP header, then RTP.
		if n < 8+12 || int(binary.BigEndian.Uint16(buf[2:])) != e.port || buf[8]>>6 != 2 {
			continue
		}
		// Audio only (G.711), not telephone-events.
		if pt := buf[9] & 0x7f; pt != 0 && pt != 8 {
			continue
		}
		src := int(binary.BigEndian.Uint16(buf[0:]))
		e.mu.Lock()
		e.heard[src] = append(e.heard[src], at)
		e.mu.Unlock()
	}
}

// Hearing is what one stream (one call) heard within a window.
type Hearing struct {
	Source  int           // Asterisk's RTP port of the call
	Packets int           // audio packets within the window
	Silence time.Duration // the longest time without audio within the window (edges included)
	At      time.Time     // when that silence began
}

// Heard returns, for each stream that began before to, how much it heard between from
// and to and its longest silence in that window (the whole window when it heard
// nothing), longest silence first.
func (e *Ear) Heard(from, to time.Time) []Hearing {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Hearing
	for src, times := range e.heard {
		if len(times) == 0 || !times[0].Before(to) {
			continue
		}
		h := Hearing{Source: src}
		last := from
		for _, at := range times {
			if at.Before(from) || at.After(to) {
				continue
			}
			h.Packets++
			if gap := at.Sub(last); gap > h.Silence {
				h.Silence, h.At = gap, last
			}
			last = at
		}
		if gap := to.Sub(last); gap > h.Silence {
			h.Silence, h.At = gap, last
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Hearing) int { return int(b.Silence - a.Silence) })
	return out
}
