package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// decodeCloudEvent decodes a CloudEvent in the JSON format (CloudEvents 1.0,
// structured mode). specversion must be "1.0"; id, source and type are
// required. They and time map to the event's fields; the extension attribute
// stream is the event's stream. data is kept as is; data_base64 becomes data
// as the JSON string of the base64 text, as sent, and the metadata member
// "data_base64": true says so; without either, data is null (the rule of
// both modes: a CloudEvent without data has data null). Every other attribute (subject, dataschema, datacontenttype,
// extensions) is a member of the event's metadata, name and value as sent.
// As in a native envelope, null is as if absent.
func decodeCloudEvent(b []byte, i, depth int) (Item, int, *jsonscan.SyntaxError) {
	if b[i] != '{' {
		end, err := jsonscan.SkipValue(b, i, depth)
		return Item{Err: &EventProblem{Message: "a CloudEvent must be a JSON object"}}, end, err
	}
	var (
		m                  members
		buf                [16][]byte
		seen               = buf[:0]
		version            []byte
		hasData, hasBase64 bool
		meta               []byte
	)
	o := jsonscan.ObjectReader{B: b, Pos: i, Depth: depth}
	for {
		key, rawKey, ok, err := o.Next()
		if err != nil {
			return Item{}, o.Pos, err
		}
		if !ok {
			break
		}
		seen = m.see(seen, key)
		v, d := o.Pos, depth+1
		switch string(key) {
		case "specversion":
			version, o.Pos, err = m.str(b, v, d, "/specversion")
		case "id":
			o.Pos, err = m.text(b, v, d, "/id", textID)
		case "source":
			o.Pos, err = m.text(b, v, d, "/source", textSource)
		case "type":
			o.Pos, err = m.text(b, v, d, "/type", textType)
		case "time":
			o.Pos, err = m.text(b, v, d, "/time", textTime)
		case "stream":
			o.Pos, err = m.text(b, v, d, "/stream", textStream)
		case "data":
			o.Pos, err = jsonscan.SkipValue(b, v, d)
			m.ev.Data, hasData = b[v:o.Pos:o.Pos], true
		case "data_base64":
			o.Pos, err = m.dataBase64(b, v, d)
			hasBase64 = b[v] == '"'
		default:
			o.Pos, err = jsonscan.SkipValue(b, v, d)
			meta = appendMember(meta, rawKey, b[v:o.Pos])
		}
		if err != nil {
			return Item{}, o.Pos, err
		}
	}
	m.setTexts()
	m.checkCloudEvent(version, hasData && hasBase64)
	if hasBase64 && !hasData {
		meta = appendMember(meta, []byte(`"data_base64"`), []byte("true"))
	}
	if meta != nil {
		m.ev.Metadata = append(meta, '}')
	}
	return m.item(), o.Pos, nil
}

// dataBase64 reads data_base64 at b[v], a string of base64 text, into the
// event's data as the JSON string sent.
func (m *members) dataBase64(b []byte, v, depth int) (int, *jsonscan.SyntaxError) {
	text, end, err := m.str(b, v, depth, "/data_base64")
	if err != nil || b[v] != '"' {
		return end, err
	}
	if _, err := base64.StdEncoding.AppendDecode(nil, text); err != nil {
		m.fail("/data_base64", "is not valid base64: "+err.Error())
	}
	m.ev.Data = b[v:end:end]
	return end, nil
}

// checkCloudEvent checks the attributes once all are read, and gives the
// event null data when it has none.
func (m *members) checkCloudEvent(version []byte, bothData bool) {
	switch string(version) {
	case "1.0":
	case "":
		m.fail("/specversion", "is required")
	default:
		m.fail("/specversion", fmt.Sprintf("is %q; only \"1.0\" is supported", version))
	}
	m.require(textID, "/id")
	m.require(textSource, "/source")
	m.require(textType, "/type")
	if bothData {
		m.fail("/data_base64", "must not be given with data")
	}
	if m.ev.Data == nil {
		m.ev.Data = json.RawMessage("null")
	}
}

// appendMember appends the member rawKey: value to the JSON object being
// built in obj (nil: none yet), which the caller closes.
func appendMember(obj, rawKey, value []byte) []byte {
	if obj == nil {
		obj = append(obj, '{')
	} else {
		obj = append(obj, ',')
	}
	obj = append(obj, rawKey...)
	obj = append(obj, ':')
	return append(obj, value...)
}

// binaryMode reports whether r is a CloudEvent in the HTTP binary content
// mode: it carries ce-specversion, whatever its body looks like.
func binaryMode(r *http.Request) bool {
	return r.Header.Get("Ce-Specversion") != ""
}

// decodeBinary reads a CloudEvent in the HTTP binary content mode
// (CloudEvents HTTP protocol binding 1.0, section 3.1): the attributes are
// the ce-* headers, percent-decoded, and the body is the data.
//
// specversion must be "1.0"; id, source and type are required; they, time
// and the extension stream map to the event's fields as in structured mode,
// and every other attribute (subject, dataschema, extensions) is a string
// member of the metadata, named as the header less "ce-", in lower case, in
// the order of the names. The Content-Type is the datacontenttype, kept in
// the metadata. A body whose Content-Type is JSON (application/json, any
// +json, or none) is the data as sent, and must be valid JSON; any other is
// kept as the JSON string of its base64, marked by "data_base64": true in
// the metadata, as data_base64 is in structured mode. An empty body is a
// CloudEvent without data: data null, as in structured mode.
func decodeBinary(r *http.Request, l Limits) ([]Item, *Problem) {
	body, p := readBody(r, l)
	if p != nil {
		return nil, p
	}
	var (
		m       members
		version []byte
		names   []string
	)
	for name := range r.Header {
		if attr, ok := strings.CutPrefix(strings.ToLower(name), "ce-"); ok && attr != "" {
			names = append(names, attr)
		}
	}
	slices.Sort(names)
	meta := []byte(nil)
	for _, attr := range names {
		value := headerAttribute(r.Header.Get("Ce-" + attr))
		switch attr {
		case "specversion":
			version = []byte(value)
		case "id":
			m.texts[textID] = []byte(value)
		case "source":
			m.texts[textSource] = []byte(value)
		case "type":
			m.texts[textType] = []byte(value)
		case "time":
			m.texts[textTime] = []byte(value)
		case "stream":
			m.texts[textStream] = []byte(value)
		case "datacontenttype":
			m.fail("/datacontenttype", "is the Content-Type header in the binary content mode, not a ce- header")
		default:
			meta = appendMember(meta, jsonscan.AppendString(nil, attr), jsonscan.AppendString(nil, value))
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		meta = appendMember(meta, []byte(`"datacontenttype"`), jsonscan.AppendString(nil, ct))
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		m.ev.Data = json.RawMessage("null")
	case jsonMediaType(ct):
		if err := checkValue(body); err != nil {
			return nil, problemf(http.StatusBadRequest, "malformed_json",
				"the body of a binary-mode CloudEvent whose Content-Type is JSON is not valid JSON: "+err.Error())
		}
		m.ev.Data = body
	default:
		m.ev.Data = jsonscan.AppendString(nil, base64.StdEncoding.EncodeToString(body))
		meta = appendMember(meta, []byte(`"data_base64"`), []byte("true"))
	}
	m.setTexts()
	m.checkCloudEvent(version, false)
	if meta != nil {
		m.ev.Metadata = append(meta, '}')
	}
	return place(nil, m.item()), nil
}

// checkValue checks that b is one JSON value, with whitespace around it
// at most.
func checkValue(b []byte) *jsonscan.SyntaxError {
	end, err := jsonscan.SkipValue(b, jsonscan.SkipSpace(b, 0), 0)
	if err != nil {
		return err
	}
	return endOfBody(b, end)
}

// headerAttribute decodes a ce-* header's value: percent-encoded (section
// 3.1.3.2 of the HTTP binding); a value that does not decode is kept as
// sent.
func headerAttribute(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	if d, err := url.PathUnescape(v); err == nil && utf8.ValidString(d) {
		return d
	}
	return v
}

// jsonMediaType reports whether the Content-Type ct says JSON:
// application/json, a +json suffix, or none at all.
func jsonMediaType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "" || mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}
