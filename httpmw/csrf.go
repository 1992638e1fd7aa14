package httpmw

import (
	"net/http"
)

// CSRF returns middleware that refuses cross-origin requests from browsers
// to state-changing routes (any method but GET, HEAD and OPTIONS), for apps
// whose users' credentials travel by themselves: cookies, or HTTP Basic
// remembered by the browser. It is net/http's [http.CrossOriginProtection]
// (the Sec-Fetch-Site header, or Origin against Host where a browser sends
// no Sec-Fetch-Site), answering 403 {"error":"cross_origin_request"} in
// the [Plain] envelope. Requests with neither header, such as those of API
// clients, curl and servers, pass: they carry no ambient credential.
//
// trustedOrigins ("https://admin.example.com") are other origins allowed to
// make such requests; CSRF panics on one that is not a valid origin, as
// it is a configuration error found at start-up.
func CSRF(trustedOrigins ...string) func(http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	for _, o := range trustedOrigins {
		if err := p.AddTrustedOrigin(o); err != nil {
			panic("httpmw.CSRF: " + err.Error())
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Responder{}.Error(w, r, errCrossOrigin)
	}))
	return p.Handler
}

var errCrossOrigin = &Error{Status: http.StatusForbidden, Code: "cross_origin_request", Description: "cross-origin requests are not allowed here"}
