package main

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the OpenAPI 3.1 document of every route the example
// mounts. The tests keep it true: TestOpenAPI_CoversEveryRoute compares its
// paths with the mux's patterns, and every end-to-end request and response
// is validated against it (see contract_test.go).
//
//go:embed openapi.json
var openapiJSON []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*") // so that playgrounds elsewhere can read it
	w.Write(openapiJSON)
}
