package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The kinds of events Run generates.
const (
	KindPageView = "page_view" // page.viewed: an analytics page view
	KindWebVital = "web_vital" // web_vital.reported: a Core Web Vitals measurement
	KindOrder    = "order"     // order.placed: an order of a shop, with a customer's email
	KindMixed    = "mixed"     // the three above in turn
)

// Kinds lists the kinds Config.Kind may name.
var Kinds = []string{KindPageView, KindWebVital, KindOrder, KindMixed}

// kindTypes are the event types of the single kinds.
var kindTypes = map[string]string{
	KindPageView: "page.viewed",
	KindWebVital: "web_vital.reported",
	KindOrder:    "order.placed",
}

// EventType returns the event type of kind's events ("page.viewed" for
// page_view), or "" for mixed and unknown kinds.
func EventType(kind string) string { return kindTypes[kind] }

// Types returns the event types that kind's events have: one for a single
// kind, three for mixed, none for an unknown kind.
func Types(kind string) []string {
	if kind == KindMixed {
		return []string{kindTypes[KindPageView], kindTypes[KindWebVital], kindTypes[KindOrder]}
	}
	if t, ok := kindTypes[kind]; ok {
		return []string{t}
	}
	return nil
}

// Schema returns the JSON Schema (draft 2020-12) of kind's events' data:
// every valid event of the kind passes it and every invalid one fails it.
// It returns nil for mixed (register the schema of each of Types) and for
// unknown kinds.
func Schema(kind string) []byte {
	if s, ok := schemas[kind]; ok {
		return []byte(s)
	}
	return nil
}

// schemas are the kinds' schemas. The member that grows with EventBytes
// (user_agent, attribution.target, gift_message) has no maximum length.
var schemas = map[string]string{
	KindPageView: `{
  "type": "object",
  "required": ["anonymous_id", "session_id", "url", "title", "viewport", "locale", "user_agent", "duration_ms"],
  "additionalProperties": false,
  "properties": {
    "anonymous_id": {"type": "string", "minLength": 8, "maxLength": 64},
    "session_id": {"type": "string", "pattern": "^s-[0-9]{8}$"},
    "url": {"type": "string", "format": "uri"},
    "referrer": {"type": "string", "format": "uri"},
    "title": {"type": "string", "maxLength": 500},
    "viewport": {
      "type": "object",
      "required": ["width", "height"],
      "properties": {"width": {"type": "integer", "minimum": 0}, "height": {"type": "integer", "minimum": 0}}
    },
    "locale": {"type": "string", "enum": ["en-GB", "en-US", "de-DE", "fr-FR"]},
    "user_agent": {"type": "string"},
    "duration_ms": {"type": "integer", "minimum": 0}
  }
}`,
	KindWebVital: `{
  "type": "object",
  "required": ["name", "value", "rating", "metric_id", "url", "anonymous_id"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "enum": ["CLS", "FCP", "INP", "LCP", "TTFB"]},
    "value": {"type": "number", "minimum": 0},
    "delta": {"type": "number"},
    "rating": {"type": "string", "enum": ["good", "needs-improvement", "poor"]},
    "metric_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "navigation_type": {"type": "string", "enum": ["navigate", "reload", "back-forward", "prerender"]},
    "url": {"type": "string", "format": "uri"},
    "anonymous_id": {"type": "string", "minLength": 8, "maxLength": 64},
    "attribution": {"type": "object", "properties": {"target": {"type": "string"}}}
  }
}`,
	KindOrder: `{
  "type": "object",
  "required": ["order_id", "customer", "currency", "items", "total"],
  "additionalProperties": false,
  "properties": {
    "order_id": {"type": "string", "pattern": "^o-[0-9]{8}$"},
    "customer": {
      "type": "object",
      "required": ["id", "email"],
      "properties": {"id": {"type": "string"}, "email": {"type": "string", "format": "email"}}
    },
    "currency": {"type": "string", "enum": ["EUR", "GBP", "USD"]},
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "price"],
        "properties": {
          "sku": {"type": "string", "minLength": 1},
          "quantity": {"type": "integer", "minimum": 1},
          "price": {"type": "number", "minimum": 0}
        }
      }
    },
    "total": {"type": "number", "minimum": 0},
    "shipping": {"type": "object", "properties": {"country": {"type": "string", "minLength": 2, "maxLength": 2}, "postcode": {"type": "string"}}},
    "gift_message": {"type": "string"}
  }
}`,
}

// validKind reports whether kind is one of Kinds.
func validKind(kind string) bool {
	for _, k := range Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Envelopes returns n event envelopes of kind as Run sends them: JSON
// objects with type, stream, time and data and no id (the server assigns
// one, so that a body sent again stores new events), each of about
// eventBytes bytes (never less than the kind's smallest event, about 250
// bytes). A share invalid (0..1) of them, spread evenly, break the kind's
// schema in one of a few realistic ways: a negative number, a missing
// required member, a malformed email or identifier, a value outside an
// enum. The result depends only on the arguments.
func Envelopes(kind string, n, eventBytes int, invalid float64) [][]byte {
	g := newGenerator(kind, eventBytes, invalid)
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// base is the client time of generated events: fixed, so that generation
// depends only on its arguments.
var base = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// generator makes the events of one kind, one after another.
type generator struct {
	kind    string
	bytes   int
	invalid float64
	i       int // the next event's index
	bad     int // invalid events made so far
	rnd     *rand.Rand
}

func newGenerator(kind string, eventBytes int, invalid float64) *generator {
	return &generator{kind: kind, bytes: eventBytes, invalid: invalid, rnd: rand.New(rand.NewPCG(1, 2))}
}

// next returns the next event's envelope. Event i is invalid when
// floor((i+1)·invalid) > floor(i·invalid): exactly the share, spread evenly.
func (g *generator) next() []byte {
	i := g.i
	g.i++
	bad := -1
	if g.invalid > 0 && int(float64(i+1)*g.invalid) > int(float64(i)*g.invalid) {
		bad = g.bad // the ways to break the schema, in turn
		g.bad++
	}
	kind := g.kind
	if kind == KindMixed {
		kind = []string{KindPageView, KindWebVital, KindOrder}[i%3]
	}
	mk := makers[kind]
	p := params{i: i, bad: bad, id: g.rnd.Uint64(), n: g.rnd.IntN(1 << 20)}
	small := mk(p, "")
	if len(small) >= g.bytes {
		return small
	}
	return mk(p, filler(g.bytes-len(small), fillers[kind]))
}

// params are the varying parts of one event.
type params struct {
	i   int    // the event's index
	bad int    // -1: valid; else the way to break the schema (modulo the kind's ways)
	id  uint64 // random: identifiers
	n   int    // random: numbers
}

// makers make an event of a kind with the given filler in its growing member.
var makers = map[string]func(p params, fill string) []byte{
	KindPageView: pageView,
	KindWebVital: webVital,
	KindOrder:    order,
}

// fillers are the text that the growing member of each kind repeats.
var fillers = map[string]string{
	KindPageView: " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86 OPR/115.0.0.0",
	KindWebVital: " > div.product-gallery > ul.slides > li:nth-child(2) > picture > img.hero-image",
	KindOrder:    " Happy birthday! With love from all of us, see you at the weekend.",
}

// filler returns n bytes of text repeating src.
func filler(n int, src string) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(src[:min(len(src), n-b.Len())])
	}
	return b.String()
}

// envelope wraps data in an envelope of typ in stream, at the event's time.
func envelope(p params, typ, stream, data string) []byte {
	t := base.Add(time.Duration(p.i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
	return fmt.Appendf(nil, `{"type":%q,"stream":%q,"time":%q,"data":%s}`, typ, stream, t, data)
}

var locales = []string{"en-GB", "en-US", "de-DE", "fr-FR"}

// pageView ways to be invalid: a negative duration, no url, a malformed
// session id, a locale outside the enum.
func pageView(p params, fill string) []byte {
	duration, url, session, locale := p.n%30_000, fmt.Sprintf(`"url":"https://shop.example.com/products/%d?utm_source=newsletter",`, p.n%5000), fmt.Sprintf("s-%08d", p.i%100_000), locales[p.i%4]
	switch {
	case p.bad < 0:
	case p.bad%4 == 0:
		duration = -1 - duration
	case p.bad%4 == 1:
		url = ""
	case p.bad%4 == 2:
		session = fmt.Sprintf("session-%d", p.i)
	case p.bad%4 == 3:
		locale = "xx-XX"
	}
	data := fmt.Sprintf(`{"anonymous_id":"%016x","session_id":%q,%s"title":"Blue running shoes, size %d | Example Shop","viewport":{"width":1440,"height":900},"locale":%q,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36%s","duration_ms":%d}`,
		p.id, session, url, 36+p.i%12, locale, fill, duration)
	return envelope(p, kindTypes[KindPageView], fmt.Sprintf("site-%d", p.i%50), data)
}

var vitals = []string{"CLS", "FCP", "INP", "LCP", "TTFB"}
var ratings = []string{"good", "needs-improvement", "poor"}

// webVital ways to be invalid: a negative value, a name outside the enum,
// no rating.
func webVital(p params, fill string) []byte {
	name, value, rating := vitals[p.i%5], fmt.Sprintf("%d.%d", p.n%4000, p.n%10), fmt.Sprintf(`"rating":%q,`, ratings[p.i%3])
	switch {
	case p.bad < 0:
	case p.bad%3 == 0:
		value = "-" + value
	case p.bad%3 == 1:
		name = "FID"
	case p.bad%3 == 2:
		rating = ""
	}
	data := fmt.Sprintf(`{"name":%q,"value":%s,"delta":%d.5,%s"metric_id":"v4-%d-%d","navigation_type":"navigate","url":"https://shop.example.com/products/%d","anonymous_id":"%016x","attribution":{"target":"main#content%s"}}`,
		name, value, p.n%100, rating, 1764320400000+p.i, p.n%10000, p.n%5000, p.id, fill)
	return envelope(p, kindTypes[KindWebVital], fmt.Sprintf("site-%d", p.i%50), data)
}

// order ways to be invalid: a negative price, no email, a malformed email,
// a quantity of 0.
func order(p params, fill string) []byte {
	email, price, quantity := fmt.Sprintf(`,"email":"customer%d@example.com"`, p.n%100_000), fmt.Sprintf("%d.99", 5+p.n%95), 1+p.i%3
	switch {
	case p.bad < 0:
	case p.bad%4 == 0:
		price = "-" + price
	case p.bad%4 == 1:
		email = ""
	case p.bad%4 == 2:
		email = fmt.Sprintf(`,"email":"customer%d.example.com"`, p.n%100_000)
	case p.bad%4 == 3:
		quantity = 0
	}
	data := fmt.Sprintf(`{"order_id":"o-%08d","customer":{"id":"c-%06d"%s},"currency":"EUR","items":[{"sku":"SKU-%04d","quantity":%d,"price":%s},{"sku":"SKU-%04d","quantity":1,"price":4.5}],"total":%d.49,"shipping":{"country":"DE","postcode":"10115"},"gift_message":"For you.%s"}`,
		p.i%100_000_000, p.n%1_000_000, email, p.n%10_000, quantity, price, (p.n+7)%10_000, 20+p.n%400, fill)
	return envelope(p, kindTypes[KindOrder], fmt.Sprintf("order-%d", p.i%100_000), data)
}
