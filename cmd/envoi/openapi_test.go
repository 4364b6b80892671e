package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/envoi/envoi/internal/web/api"
)

var (
	apiDocOnce sync.Once
	apiDoc     *openapi3.T
	apiRouter  routers.Router
	apiDocErr  error
)

func openAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	apiDocOnce.Do(func() {
		// An import file is checked line by line by the server (a bad line is
		// reported, not a bad request): the document takes any text/csv.
		openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.PlainBodyDecoder)
		// The record of processing's HTML form: checked as a string.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		apiDoc, apiDocErr = openapi3.NewLoader().LoadFromData(api.OpenAPI)
		if apiDocErr == nil {
			apiDocErr = apiDoc.Validate(context.Background())
		}
		if apiDocErr == nil {
			apiRouter, apiDocErr = gorillamux.NewRouter(apiDoc)
		}
	})
	if apiDocErr != nil {
		t.Fatalf("openapi.json: %v", apiDocErr)
	}
	return apiDoc, apiRouter
}

// checkOpenAPI validates every API exchange a test makes (ta.do) against the
// document: every response (its status must be documented, its body must
// match), and every request the server accepted (a 2xx).
func (ta *testApp) checkOpenAPI(method, path, contentType, body string, header []string, res response) {
	ta.t.Helper()
	if !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/openapi.json" || method == http.MethodHead {
		return
	}
	_, router := openAPI(ta.t)
	req, _ := http.NewRequest(method, "http://envoi.test"+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if res.Status == http.StatusNotFound || res.Status == http.StatusMethodNotAllowed {
			return // not an API route: the router says so too
		}
		ta.t.Fatalf("%s %s is not in openapi.json: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if res.Status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			ta.t.Fatalf("%s %s: the server accepted a request openapi.json refuses: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader([]byte(res.Body))), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		ta.t.Fatalf("%s %s → %d does not match openapi.json: %v\n%s", method, path, res.Status, err, res.Body)
	}
}

// TestOpenAPIRoutes (issue 13): openapi.json is served, valid OpenAPI 3.1,
// and names exactly the API routes the router has.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	doc, _ := openAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	r := ta.get("/api/v1/openapi.json")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !bytes.Equal([]byte(r.Body), api.OpenAPI) {
		t.Fatalf("GET /api/v1/openapi.json: %d", r.Status)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range ta.Web.Engine.Routes() {
		if !strings.HasPrefix(rt.Path, "/api/v1/") || rt.Path == "/api/v1/openapi.json" {
			continue
		}
		parts := strings.Split(rt.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		routed[rt.Method+" "+strings.Join(parts, "/")] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not in openapi.json: %v; documented routes the router lacks: %v", missing, extra)
	}
	t.Logf("%d routes, all documented", len(routed))
}
