// Command rateload POSTs signup forms at a fixed rate (open loop), each with a
// unique address, and prints the rate reached, latency percentiles and status
// codes. ../shared/bench/formload runs closed loop (as fast as the server
// answers); this one asks whether the server keeps up at a given rate, its
// confirmations included. Usage:
//
//	go run ./bench/rateload -url http://127.0.0.1:8090/subscribe/bench -rate 2600 -d 20s
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "form URL to POST to")
	body := flag.String("body", "email=rate{n}@example.com&consent=on", "url-encoded body; {n} is a unique number")
	rate := flag.Int("rate", 1000, "requests per second")
	d := flag.Duration("d", 20*time.Second, "duration")
	inflight := flag.Int("max-inflight", 500, "most requests in flight; beyond that the rate is not kept (reported)")
	flag.Parse()
	if *url == "" || *rate <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *inflight, MaxConnsPerHost: *inflight}}
	var mu sync.Mutex
	var lat []time.Duration
	codes := map[int]int{}
	sem := make(chan struct{}, *inflight)
	var wg sync.WaitGroup
	start := time.Now()
	n, skipped := 0, 0
	stamp := time.Now().UnixNano() / 1e6
	for {
		due := start.Add(time.Duration(n) * time.Second / time.Duration(*rate))
		if due.Sub(start) >= *d {
			break
		}
		time.Sleep(time.Until(due))
		n++
		select {
		case sem <- struct{}{}:
		default:
			skipped++
			continue
		}
		wg.Add(1)
		b := strings.ReplaceAll(*body, "{n}", strconv.FormatInt(stamp, 10)+"x"+strconv.Itoa(n))
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			code := 0
			res, err := client.Post(*url, "application/x-www-form-urlencoded", strings.NewReader(b))
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				code = res.StatusCode
			}
			mu.Lock()
			lat = append(lat, time.Since(t0))
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	fmt.Printf("requests=%d elapsed=%.1fs rate=%.0f req/s (asked %d) p50=%v p90=%v p99=%v codes=%v not-sent=%d\n",
		len(lat), el.Seconds(), float64(len(lat))/el.Seconds(), *rate, p(0.5).Round(10*time.Microsecond), p(0.9).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), codes, skipped)
}
