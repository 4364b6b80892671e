package doctor

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

func isNullMX(mxs []*dns.MX) bool {
	return len(mxs) == 1 && mxs[0].Mx == "."
}

func ipList(ips []net.IP) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return strings.Join(s, ", ")
}

// checkInboundMX checks that the inbound domain receives mail: bounces and
// complaints are sent there.
func checkInboundMX(ctx context.Context, r *resolver, inbound, from string) Result {
	var f finding
	if inbound == "" {
		f.add(Warn, "no inbound domain: bounces go back to the From address ("+from+") and are not processed",
			"Set ENVOI_INBOUND_DOMAIN (or --inbound) to a domain like bounces."+orgDomain(from)+" whose MX points at Envoi's inbound listener, so that bounces and complaints are processed.")
		return f.result(CheckInboundMX)
	}
	mxs, exists, err := r.MX(ctx, inbound)
	if err != nil {
		if isTemp(err) {
			f.add(Warn, tempFound(err), tempFix)
		} else {
			f.add(Fail, err.Error(), "")
		}
		return f.result(CheckInboundMX)
	}
	addMX := fmt.Sprintf("Add MX %s 10 <the host of Envoi's inbound listener>.", inbound)
	if isNullMX(mxs) {
		f.add(Fail, inbound+" has a null MX (\"0 .\"): it receives no mail, so bounces and complaints are lost", "Replace it: "+addMX)
		return f.result(CheckInboundMX)
	}
	if len(mxs) == 0 {
		ips, err := r.IPs(ctx, inbound)
		switch {
		case err != nil && isTemp(err):
			f.add(Warn, tempFound(err), tempFix)
		case err == nil && len(ips) > 0:
			f.add(Warn, fmt.Sprintf("%s has no MX; mail to it goes to its A/AAAA record (%s)", inbound, ipList(ips)),
				addMX+" Some senders do not fall back to the A record.")
		case !exists:
			f.add(Fail, inbound+" does not exist in DNS: bounces and complaints sent to it are lost", addMX)
		default:
			f.add(Fail, inbound+" has no MX and no A record: bounces and complaints sent to it are lost", addMX)
		}
		return f.result(CheckInboundMX)
	}
	sort.Slice(mxs, func(i, j int) bool { return mxs[i].Preference < mxs[j].Preference })
	var hosts, dead []string
	for _, mx := range mxs {
		h := strings.TrimSuffix(mx.Mx, ".")
		ips, err := r.IPs(ctx, h)
		switch {
		case err != nil && isTemp(err):
			hosts = append(hosts, fmt.Sprintf("%s (%d) → ?", h, mx.Preference))
			f.add(Warn, tempFound(err), tempFix)
		case err != nil || len(ips) == 0:
			hosts = append(hosts, fmt.Sprintf("%s (%d) → no address", h, mx.Preference))
			dead = append(dead, h)
		default:
			hosts = append(hosts, fmt.Sprintf("%s (%d) → %s", h, mx.Preference, ipList(ips)))
		}
	}
	found := fmt.Sprintf("MX of %s: %s; bounces and complaints will go there, so these hosts must reach Envoi's inbound listener", inbound, strings.Join(hosts, ", "))
	switch {
	case len(dead) == len(mxs):
		f.add(Fail, found, fmt.Sprintf("Give %s an A/AAAA record, or point the MX of %s at a host that has one.", strings.Join(dead, ", "), inbound))
	case len(dead) > 0:
		f.add(Warn, found, fmt.Sprintf("Give %s an A/AAAA record or remove it from the MX of %s.", strings.Join(dead, ", "), inbound))
	default:
		f.add(OK, found, "")
	}
	return f.result(CheckInboundMX)
}

// checkFromDomain checks that the From domain can receive mail: some receivers
// refuse senders whose domain has neither MX nor A.
func checkFromDomain(ctx context.Context, r *resolver, from string) Result {
	var f finding
	mxs, exists, err := r.MX(ctx, from)
	if err != nil {
		if isTemp(err) {
			f.add(Warn, tempFound(err), tempFix)
		} else {
			f.add(Fail, err.Error(), "")
		}
		return f.result(CheckFromAddress)
	}
	switch {
	case isNullMX(mxs):
		f.add(Warn, from+" has a null MX: it says it receives no mail, and some receivers refuse senders that cannot be answered",
			"Replace the null MX of "+from+" with a real one, so that replies reach you.")
		return f.result(CheckFromAddress)
	case len(mxs) > 0:
		var hs []string
		for _, mx := range mxs {
			hs = append(hs, strings.TrimSuffix(mx.Mx, "."))
		}
		f.add(OK, fmt.Sprintf("%s has MX %s", from, strings.Join(hs, ", ")), "")
		return f.result(CheckFromAddress)
	}
	ips, err := r.IPs(ctx, from)
	switch {
	case err != nil && isTemp(err):
		f.add(Warn, tempFound(err), tempFix)
	case err == nil && len(ips) > 0:
		f.add(OK, fmt.Sprintf("%s has no MX but an address (%s)", from, ipList(ips)), "")
	case !exists:
		f.add(Fail, from+" does not exist in DNS: receivers refuse mail from it", "Register "+from+" or send from a domain you own (ENVOI_FROM).")
	default:
		f.add(Fail, from+" has neither MX nor A record: some receivers refuse senders whose domain cannot receive mail",
			"Add MX "+from+" pointing at the mail server that receives replies.")
	}
	return f.result(CheckFromAddress)
}
