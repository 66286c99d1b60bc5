package schema_test

import (
	"testing"
)

// pageView is a page.viewed event's data, about 400 bytes.
const pageView = `{"page_id":"5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07","url":"https://shop.example.com/products/espresso-machine-x200?utm_source=newsletter&utm_medium=email","title":"Espresso Machine X200 – Example Shop","referrer":"https://mail.example.org/","session_id":"b3e1f9d2-7a6c-4b58-8e0f-1c2d3a4b5c6d","user_email":"ada.lovelace@example.com","viewed_at":"2025-03-14T15:09:26.535Z","device":"desktop","duration_ms":5234,"screen":{"width":1920,"height":1080}}`

// pageViewInvalid breaks five rules of page.viewed.
const pageViewInvalid = `{"page_id":"5f0c6a8e","url":"https://shop.example.com/products/espresso-machine-x200?utm_source=newsletter&utm_medium=email","title":"Espresso Machine X200 – Example Shop","referrer":"https://mail.example.org/","session_id":"b3e1f9d2-7a6c-4b58-8e0f-1c2d3a4b5c6d","user_email":"ada.lovelace","viewed_at":"yesterday","device":"tv","duration_ms":-1,"screen":{"width":1920,"height":1080}}`

func BenchmarkValidate(b *testing.B) {
	r := loadTestdata(b)
	data := []byte(pageView)
	if known, vs := r.Validate("page.viewed", data); !known || len(vs) != 0 {
		b.Fatalf("Validate = %t, %v; want valid", known, vs)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Validate("page.viewed", data)
	}
}

func BenchmarkValidateInvalid(b *testing.B) {
	r := loadTestdata(b)
	data := []byte(pageViewInvalid)
	if _, vs := r.Validate("page.viewed", data); len(vs) != 5 {
		b.Fatalf("Validate gives %v, want 5 violations", vs)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Validate("page.viewed", data)
	}
}
