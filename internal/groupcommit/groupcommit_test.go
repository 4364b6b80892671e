package groupcommit

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestGroup: concurrent requests are answered each with its own result, run
// together in groups, and requests with the same key never share a group.
func TestGroup(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	g := New(func(_ context.Context, reqs []int) ([]string, error) {
		seen := map[int]bool{}
		for _, r := range reqs {
			if seen[r%10] {
				return nil, errors.New("two requests with one key in a group")
			}
			seen[r%10] = true
		}
		mu.Lock()
		sizes = append(sizes, len(reqs))
		mu.Unlock()
		time.Sleep(time.Millisecond) // a statement takes time: others queue up meanwhile
		out := make([]string, len(reqs))
		for i, r := range reqs {
			out[i] = strconv.Itoa(r * 2)
		}
		return out, nil
	})
	g.Key = func(r int) string { return strconv.Itoa(r % 10) }
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		g.Join()
		go func() {
			defer wg.Done()
			defer g.Leave()
			got, err := g.Do(i)
			if err != nil {
				errs <- err
			} else if got != strconv.Itoa(i*2) {
				errs <- errors.New("request " + strconv.Itoa(i) + " got " + got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total, largest := 0, 0
	for _, s := range sizes {
		total += s
		largest = max(largest, s)
	}
	if total != n {
		t.Fatalf("%d requests ran, want %d", total, n)
	}
	if largest < 2 || largest > 10 {
		t.Fatalf("largest group %d: want requests grouped, at most one per key (10 keys)", largest)
	}
}

// TestGroupError: a failed statement fails every request of its group, and the
// next group runs.
func TestGroupError(t *testing.T) {
	calls := 0
	g := New(func(_ context.Context, reqs []int) ([]int, error) {
		calls++
		if reqs[0] < 0 {
			return nil, errors.New("statement failed")
		}
		return reqs, nil
	})
	g.Join()
	defer g.Leave()
	if _, err := g.Do(-1); err == nil {
		t.Fatal("error not passed on")
	}
	if got, err := g.Do(7); err != nil || got != 7 {
		t.Fatalf("after a failure: %d, %v", got, err)
	}
	if calls != 2 {
		t.Fatalf("%d statements", calls)
	}
}
