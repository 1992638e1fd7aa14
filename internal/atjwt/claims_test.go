package atjwt

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/matryer/is"
)

func TestDecodeClaims_ScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		fast    bool // the scanner handles it itself
	}{
		{"what Issue writes", `{"iss":"authkit","sub":"alice","aud":"authkit","client_id":"k1","jti":"j1","iat":1700000000,"exp":1700003600,"scope":"a b","sid":"s1","env":"live"}`, true},
		{"white space", " {\n\"iss\" : \"a\" ,\t\"exp\":1 }\r\n", true},
		{"aud array", `{"aud":["x","authkit"],"exp":5}`, true},
		{"empty aud array", `{"aud":[],"exp":5}`, true},
		{"nbf and negative zero", `{"nbf":-0,"exp":5}`, true},
		{"empty object", `{}`, true},
		{"escape", `{"sub":"al\u0069ce","exp":5}`, false},
		{"non-ASCII", `{"sub":"zoë","exp":5}`, false},
		{"unknown claim", `{"x":{"y":[1,2]},"exp":5}`, false},
		{"repeated claim", `{"exp":5,"exp":6}`, false},
		{"other spelling", `{"EXP":5}`, false},
		{"float", `{"exp":5.0}`, false},
		{"exponent", `{"exp":5e3}`, false},
		{"null", `{"sub":null,"exp":5}`, false},
		{"19 digits", `{"exp":1234567890123456789}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			var fast Wire
			is.Equal(scanClaims(tc.payload, &fast), tc.fast)
			var ref Wire
			refErr := json.Unmarshal([]byte(tc.payload), &ref)
			var got Wire
			err := Decode([]byte(tc.payload), &got)
			is.Equal(err == nil, refErr == nil)
			if err == nil {
				is.True(sameClaims(&got, &ref))
			}
		})
	}
}

func TestDecodeClaims_RejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, p := range []string{``, `[]`, `{`, `{"exp":}`, `{"exp":1,}`, `{"exp":01}`, `{"exp":"1"}`, `{"exp":1}x`, `{"aud":[1]}`, `{"sub":"a` + "\x01" + `"}`, `{"exp":99999999999999999999}`} {
		is := is.New(t)
		var w Wire
		is.True(Decode([]byte(p), &w) != nil) // must fail
	}
}

// FuzzDecodeClaims: whatever the scanner accepts, encoding/json decodes to
// the same claims.
func FuzzDecodeClaims(f *testing.F) {
	f.Add(`{"iss":"authkit","sub":"alice","aud":"authkit","client_id":"k1","jti":"j1","iat":1700000000,"exp":1700003600,"scope":"a b","sid":"s1","env":"live"}`)
	f.Add(`{"aud":["x","y"],"nbf":-1,"exp":0}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, payload string) {
		var fast Wire
		if !scanClaims(payload, &fast) {
			return
		}
		var ref Wire
		if err := json.Unmarshal([]byte(payload), &ref); err != nil {
			t.Fatalf("scanner accepted what encoding/json refuses: %v", err)
		}
		if !sameClaims(&fast, &ref) {
			t.Fatalf("scanner %+v, encoding/json %+v", fast, ref)
		}
	})
}

func sameClaims(a, b *Wire) bool {
	return a.Claims == b.Claims && a.NotBefore == b.NotBefore &&
		a.Aud.set == b.Aud.set && a.Aud.array == b.Aud.array && a.Aud.one == b.Aud.one && slices.Equal(a.Aud.many, b.Aud.many)
}
