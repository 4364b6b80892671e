// Package metrics counts what operators watch, in Prometheus's format
// (prometheus/client_golang): messages by kind and outcome, SMTP and claim
// latencies, the job queue's depth, signups, confirmations, unsubscriptions
// and HTTP requests by route pattern. Labels are fixed words (kinds, outcomes,
// sources, route patterns, status codes): never an address, a token or an
// error's text. Every method is safe on a nil *Metrics (services built
// without metrics, in some tests and CLI commands).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds one process's metrics in their own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	messages      *prometheus.CounterVec
	smtp          *prometheus.HistogramVec
	claims        *prometheus.HistogramVec
	signups       *prometheus.CounterVec
	confirmations prometheus.Counter
	unsubscribes  *prometheus.CounterVec
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
}

// New makes the metrics, with Go's runtime and the process's among them.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_messages_total",
			Help: "Messages handled, by kind (campaign, transactional) and outcome (sent, temporary, permanent, skipped)."}, []string{"kind", "outcome"}),
		smtp: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "envoi_smtp_transaction_seconds",
			Help: "Time of one SMTP mail transaction (MAIL FROM to the reply to DATA), by kind.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"kind"}),
		claims: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "envoi_claim_seconds",
			Help: "Time of one grouped claim statement of the ledger, by kind.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}, []string{"kind"}),
		signups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_signups_total",
			Help: "Signup requests, by result (accepted, rate_limited, invalid, trap, proof_of_work)."}, []string{"result"}),
		confirmations: prometheus.NewCounter(prometheus.CounterOpts{Name: "envoi_confirmations_total",
			Help: "Subscriptions confirmed (double opt-in completed)."}),
		unsubscribes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_unsubscribes_total",
			Help: "Unsubscriptions, by source (one_click, link, api)."}, []string{"source"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_http_requests_total",
			Help: "HTTP requests, by method, route pattern and status."}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "envoi_http_request_seconds",
			Help: "HTTP request duration, by method and route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"method", "route"}),
	}
	r.MustRegister(m.messages, m.smtp, m.claims, m.signups, m.confirmations, m.unsubscribes, m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Message counts one message's outcome.
func (m *Metrics) Message(kind, outcome string) {
	if m != nil {
		m.messages.WithLabelValues(kind, outcome).Inc()
	}
}

// SMTP observes one mail transaction.
func (m *Metrics) SMTP(kind string, d time.Duration) {
	if m != nil {
		m.smtp.WithLabelValues(kind).Observe(d.Seconds())
	}
}

// Claim observes one grouped claim statement.
func (m *Metrics) Claim(kind string, d time.Duration) {
	if m != nil {
		m.claims.WithLabelValues(kind).Observe(d.Seconds())
	}
}

// Signup counts a signup request's result.
func (m *Metrics) Signup(result string) {
	if m != nil {
		m.signups.WithLabelValues(result).Inc()
	}
}

// Confirmation counts a confirmed subscription.
func (m *Metrics) Confirmation() {
	if m != nil {
		m.confirmations.Inc()
	}
}

// Unsubscribe counts an unsubscription by its source.
func (m *Metrics) Unsubscribe(source string) {
	if m != nil {
		m.unsubscribes.WithLabelValues(source).Inc()
	}
}

// Request counts an HTTP request (route is the pattern, never the path).
func (m *Metrics) Request(method, route string, status int, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(method, route).Observe(d.Seconds())
	}
}

// QueueDepth reports the job queue's tasks by state at each scrape.
func (m *Metrics) QueueDepth(queue string, read func() (map[string]int, error)) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&queueCollector{queue: queue, read: read,
		desc: prometheus.NewDesc("envoi_queue_tasks", "Tasks in the job queue, by state (pending, active, scheduled, retry, archived).",
			[]string{"queue", "state"}, nil)})
}

type queueCollector struct {
	queue string
	read  func() (map[string]int, error)
	desc  *prometheus.Desc
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := q.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(n), q.queue, state)
	}
}
