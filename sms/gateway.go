package sms

import (
	"context"
	"errors"
	"time"
)

// This file is the contract between the outbox (this package) and a gateway driver
// (sms/kannel, or a fake in tests). The outbox splits a message into parts itself, so that
// every part has its own row, its own delivery report and its own status; a driver sends
// exactly the parts it is given and never splits or joins them.

// Coding is how a message's characters are encoded on the air.
type Coding string

const (
	// CodingGSM7 is the GSM 03.38 default alphabet: 160 characters in one message, 153 per
	// part of a long one.
	CodingGSM7 Coding = "gsm7"
	// CodingUCS2 is UTF-16 (Chinese and everything else): 70 characters in one message,
	// 67 per part of a long one.
	CodingUCS2 Coding = "ucs2"
)

// Part is one SMS on the air. A message of one part has Count 1 and no concatenation
// header; a long message's parts share Ref and carry Seq 1..Count.
type Part struct {
	// MessageID is the outbox row's id; PartID the part row's id. Both go into the
	// delivery-report URL so that a report finds its part without a lookup by gateway id.
	MessageID uint64
	PartID    uint64
	To        string // national mobile number, e.g. 13800138000
	Coding    Coding
	// Text is this part's characters only (no header).
	Text string
	// Ref, Seq and Count form the concatenation header (UDH IEI 0x00, 8-bit reference).
	Ref   uint8
	Seq   int
	Count int
}

// Submitted is a gateway's answer to an accepted part.
type Submitted struct {
	// GatewayID is whatever id the gateway gave the part ("" when it gives none).
	GatewayID string
}

// ErrRejected marks a permanent refusal by the gateway (bad number, bad credentials, a
// 4xx answer): the outbox does not retry it. Any other error is temporary and retried with
// backoff until the message expires — except a timeout (an error wrapping
// context.DeadlineExceeded or context.Canceled, or a net.Error whose Timeout is true): then
// whether the gateway took the part is unknown, and the outbox waits for a delivery report
// (see ReconcileOnce) before it sends the part again.
var ErrRejected = errors.New("sms: gateway rejected the message")

// Gateway submits parts to an SMS centre. Submit must return only when the gateway has
// accepted or refused the part; it must be safe for concurrent use.
type Gateway interface {
	Name() string
	Submit(ctx context.Context, p Part) (Submitted, error)
}

// DeliveryState is what a delivery report says about one part.
type DeliveryState string

const (
	// DeliveryBuffered: the SMS centre holds the part and will try again (not final).
	DeliveryBuffered DeliveryState = "buffered"
	// DeliveryAccepted: the SMS centre accepted the part (Kannel's "delivered to SMSC",
	// not final).
	DeliveryAccepted DeliveryState = "accepted"
	// DeliveryDelivered: the phone has it (final).
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: it will not arrive (final).
	DeliveryFailed DeliveryState = "failed"
)

// Report is a delivery report for one part, already authenticated and parsed by the
// driver's callback handler.
type Report struct {
	MessageID uint64
	PartID    uint64
	State     DeliveryState
	GatewayID string
	// Detail is the gateway's own words (Kannel's SMSC reply), kept for the operator.
	Detail string
	At     time.Time
}

// Inbound is a message a citizen sent (MO), decoded to UTF-8 by the driver.
type Inbound struct {
	From      string // the citizen's number as the gateway gave it
	To        string // the service number it was sent to
	Text      string
	GatewayID string
	At        time.Time
}

// Receiver takes what a gateway's callbacks deliver. The outbox implements it; a driver's
// HTTP handlers call it after checking the shared secret. An error means "not stored,
// ask the gateway to try again" (the handler answers 5xx); a report for an unknown part is
// not an error: it is logged and acknowledged.
type Receiver interface {
	Report(ctx context.Context, r Report) error
	Receive(ctx context.Context, m Inbound) error
}
