package doctor

import (
	"context"
	"fmt"
	"strings"
)

// dmarcRecords returns the TXT records at name that start with v=DMARC1, and
// whether there were other TXT records there.
func dmarcRecords(txts []string) (recs []string, others bool) {
	for _, t := range txts {
		if strings.EqualFold(firstTag(t), "v") && strings.EqualFold(parseTags(t)["v"], "DMARC1") {
			recs = append(recs, t)
		} else {
			others = true
		}
	}
	return recs, others
}

// aligned is DMARC's identifier alignment: strict wants the same domain,
// relaxed the same organizational domain.
func aligned(d, from string, strict bool) bool {
	if d == "" || from == "" {
		return false
	}
	if strict {
		return d == from
	}
	return orgDomain(d) == orgDomain(from)
}

func checkDMARC(ctx context.Context, r *resolver, in Input, envelope string, envSPF spfOutcome) Result {
	var f finding
	name := "_dmarc." + in.Domain
	txts, err := r.TXT(ctx, name)
	if err != nil && isTemp(err) {
		f.add(Warn, tempFound(err), tempFix)
		return f.result(CheckDMARC)
	}
	recs, others := dmarcRecords(txts)
	at, subdomain := name, false
	if len(recs) == 0 {
		// Receivers discard TXT records that do not start with v=DMARC1 and
		// fall back to the organizational domain's policy (RFC 7489 6.6.3).
		if org := orgDomain(in.Domain); org != in.Domain {
			txts, err := r.TXT(ctx, "_dmarc."+org)
			if err != nil && isTemp(err) {
				f.add(Warn, tempFound(err), tempFix)
				return f.result(CheckDMARC)
			}
			if recs, _ = dmarcRecords(txts); len(recs) > 0 {
				at, subdomain = "_dmarc."+org, true
				if others {
					f.add(Warn, "the TXT record at "+name+" does not start with v=DMARC1, so receivers ignore it and apply "+at, "Delete it, or make it a v=DMARC1 record.")
				}
			}
		}
	}
	tags := map[string]string{}
	switch len(recs) {
	case 0:
		found := "no DMARC record at " + name
		if others {
			found = "the TXT record at " + name + " does not start with v=DMARC1, so receivers ignore it"
		}
		f.add(Fail, found+"; Gmail and Yahoo require one for bulk senders",
			fmt.Sprintf("Add TXT %s \"v=DMARC1; p=none; rua=mailto:dmarc@%s\" (rua: an address that reads the aggregate reports), then move to p=quarantine once the reports show your mail passes.", name, orgDomain(in.Domain)))
	case 1:
		tags = parseTags(recs[0])
		policy, which := strings.ToLower(tags["p"]), "p"
		if sp, ok := tags["sp"]; subdomain && ok {
			policy, which = strings.ToLower(sp), "sp"
		}
		found := fmt.Sprintf("%s: %q", at, recs[0])
		switch policy {
		case "quarantine", "reject":
			f.add(OK, found, "")
		case "none":
			f.add(Warn, found+"; "+which+"=none is monitoring only: receivers act on nothing",
				fmt.Sprintf("Once the reports show your mail passes, change %s=none to %s=quarantine (then %s=reject) in %s.", which, which, which, at))
		case "":
			f.add(Fail, found+"; it has no p= policy", fmt.Sprintf("Put p=none (or quarantine, reject) right after v=DMARC1 in %s.", at))
		default:
			f.add(Fail, fmt.Sprintf("%s; %s=%s is not a policy", found, which, policy), fmt.Sprintf("Set %s= to none, quarantine or reject in %s.", which, at))
		}
		if _, ok := tags["rua"]; !ok {
			f.add(OK, "no rua=: nobody gets the aggregate reports", "")
		}
	default:
		f.add(Fail, fmt.Sprintf("%d DMARC records at %s: receivers apply none", len(recs), at),
			fmt.Sprintf("Keep a single v=DMARC1 record at %s.", at))
	}

	// Alignment with the From domain.
	from := in.FromDomain
	adkim := strings.ToLower(tags["adkim"]) == "s"
	aspf := strings.ToLower(tags["aspf"]) == "s"
	mode := func(strict bool) string {
		if strict {
			return "strict"
		}
		return "relaxed"
	}
	dkimOK := aligned(in.DKIMDomain, from, adkim)
	spfDomainOK := aligned(envelope, from, aspf)
	spfOK := spfDomainOK && envSPF.passes
	var why []string
	switch {
	case in.DKIMDomain == "":
		why = append(why, "mail is not DKIM-signed")
	case !dkimOK:
		why = append(why, fmt.Sprintf("DKIM signs as d=%s, not aligned (%s) with the From domain %s", in.DKIMDomain, mode(adkim), from))
	}
	switch {
	case !spfDomainOK:
		why = append(why, fmt.Sprintf("the envelope sender's domain %s is not aligned (%s) with %s", envelope, mode(aspf), from))
	case !envSPF.passes:
		why = append(why, fmt.Sprintf("SPF of the envelope sender's domain %s does not pass for the relay", envelope))
	}
	switch {
	case dkimOK && spfOK:
		f.add(OK, "DKIM and SPF aligned with "+from, "")
	case dkimOK:
		f.add(OK, "DKIM aligned with "+from+" ("+strings.Join(why, "; ")+")", "")
	case spfOK:
		f.add(OK, "SPF aligned with "+from+" ("+strings.Join(why, "; ")+"); SPF alone breaks when mail is forwarded", "")
	default:
		fix := fmt.Sprintf("Sign with ENVOI_DKIM_DOMAIN=%s (or a domain under %s) and publish its key.", from, orgDomain(from))
		if adkim && in.DKIMDomain != "" && orgDomain(in.DKIMDomain) == orgDomain(from) {
			fix = fmt.Sprintf("Sign with ENVOI_DKIM_DOMAIN=%s exactly (adkim=s), or drop adkim=s from %s.", from, at)
		}
		f.add(Fail, "neither DKIM nor SPF is aligned with the From domain "+from+", so DMARC fails for every message: "+strings.Join(why, "; "), fix)
	}
	return f.result(CheckDMARC)
}
