// Package apperr defines the error codes the domain returns. Packages below the
// web layer return *Error for anything a user caused; the web layer maps codes to
// HTTP statuses in one table. Anything else is an internal error.
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes.
const (
	BadRequest   = "bad_request"        // malformed request, such as a garbled or tampered link
	Invalid      = "invalid"            // bad input; Field names the input
	NotFound     = "not_found"          // no such thing
	Conflict     = "conflict"           // already exists
	Unauthorized = "unauthorized"       // no or bad credentials
	Forbidden    = "forbidden"          // known, but not allowed (such as a form posted from another site)
	Expired      = "expired"            // a token that was valid once
	Unavailable  = "unavailable"        // a dependency is down; try again
	TooLarge     = "too_large"          // a request body over its limit
	TooMany      = "too_many"           // over a rate limit; RetryAfter says when to come back
	Unsupported  = "unsupported_media"  // a body in a format the endpoint does not take
	NotAllowed   = "method_not_allowed" // a method the address does not accept
	Internal     = "internal"           // everything else
)

// Error is an error a user can act on.
type Error struct {
	Code    string
	Message string
	Field   string
	// RetryAfter, for TooMany, is how long to wait before trying again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// New returns an *Error.
func New(code, message string) *Error { return &Error{Code: code, Message: message} }

// FieldError returns an Invalid *Error about one input field.
func FieldError(field, message string) *Error {
	return &Error{Code: Invalid, Message: message, Field: field}
}

// FieldErrors is several Invalid errors at once, one per field (a form with
// more than one mistake). errors.As, and so As and ErrorCode, find the first.
type FieldErrors []*Error

func (f FieldErrors) Error() string {
	msgs := make([]string, len(f))
	for i, e := range f {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives each error, for errors.As and errors.Is.
func (f FieldErrors) Unwrap() []error {
	out := make([]error, len(f))
	for i, e := range f {
		out[i] = e
	}
	return out
}

// ErrorCode returns the code of err, or Internal when err is not an *Error.
// It returns "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
