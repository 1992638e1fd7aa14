package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/authkit/httpmw"
)

// fields is a decoded JSON object whose members are read by name, so that
// each handler can be told which names its clients speak.
type fields map[string]json.RawMessage

// readBody reads at most limit bytes of r's body. An empty body is fine.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, badRequest("could not read the request body")
	}
	return b, nil
}

// decodeJSON reads a JSON object body. An empty body is an empty object.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64) (fields, error) {
	b, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	f := fields{}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return nil, &httpmw.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body must be application/json"}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil || f == nil {
		return nil, badRequest("the body must be a JSON object")
	}
	if dec.More() {
		return nil, badRequest("the body must hold one JSON object")
	}
	return f, nil
}

// str returns the string member name, "" if absent or null. A member of
// another type is an error naming the field.
func (f fields) str(name string) (string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest(name + " must be a string")
	}
	return s, nil
}

// has reports whether the member name is present and not null.
func (f fields) has(name string) bool {
	raw, ok := f[name]
	return ok && string(raw) != "null"
}

// required is str for a member that must be there and not empty.
func (f fields) required(name string) (string, error) {
	v, err := f.str(name)
	if err == nil && v == "" {
		err = badRequest(name + " is required")
	}
	return v, err
}

// int returns the integer member name and whether it was present.
func (f fields) int(name string) (int64, bool, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return 0, false, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
		return 0, false, badRequest(name + " must be an integer")
	}
	return int64(n), true, nil
}

// seconds returns the member name, a whole number of seconds from lo to
// hi, as a duration, and whether it was present. This is the one reading of
// every lifetime and grace period a client sends.
func (f fields) seconds(name string, lo, hi time.Duration) (time.Duration, bool, error) {
	n, ok, err := f.int(name)
	if err != nil || !ok {
		return 0, ok, err
	}
	if n < int64(lo/time.Second) || n > int64(hi/time.Second) {
		return 0, false, badRequest(name + " must be between " + strconv.FormatInt(int64(lo/time.Second), 10) + " and " + strconv.FormatInt(int64(hi/time.Second), 10) + " seconds")
	}
	return time.Duration(n) * time.Second, true, nil
}

// strings returns the string-array member name.
func (f fields) strings(name string) ([]string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var s []string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badRequest(name + " must be an array of strings")
	}
	return s, nil
}

// bool returns the boolean member name.
func (f fields) bool(name string) (bool, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, badRequest(name + " must be true or false")
	}
	return v, nil
}

// decodeForm reads an application/x-www-form-urlencoded body (RFC 6749
// endpoints). Parameters may not repeat (RFC 6749 §3.1).
func decodeForm(w http.ResponseWriter, r *http.Request, limit int64) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("the body must be application/x-www-form-urlencoded")
	}
	b, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, badRequest("malformed form body")
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, badRequest(k + " must not repeat")
		}
		// A value is a slice of the whole body; a token cache that keeps
		// it (tokens.Service.Verify) must not keep the body with it.
		vs[0] = strings.Clone(vs[0])
	}
	return v, nil
}
