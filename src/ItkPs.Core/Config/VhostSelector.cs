using System.Net;

namespace ItkPs.Core.Config;

/// <summary>
/// Name-based virtual host selection as Apache httpd documents it: first the most specific
/// address match for the connection's local address and port (exact IP and port, then exact
/// IP with any port, then "*"/_default_ with the port, then "*" with any port); among those
/// vhosts, in file order, the first whose ServerName or a ServerAlias (wildcards * and ?)
/// equals the Host header, case-insensitively and without its port; else the first of them.
/// </summary>
public sealed class VhostSelector
{
    private readonly IReadOnlyList<VirtualHost> _vhosts;
    // The answer depends only on the listener's address and port, of which a server has few:
    // remembered so that a request does not walk every vhost (bounded all the same).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(IPAddress, int), IReadOnlyList<VirtualHost>> _candidates = new();

    public VhostSelector(IReadOnlyList<VirtualHost> vhosts) { _vhosts = vhosts; }

    /// <summary>The vhosts that a connection to this local address and port can reach, best match only.</summary>
    public IReadOnlyList<VirtualHost> Candidates(IPAddress local, int port)
    {
        if (local.IsIPv4MappedToIPv6) local = local.MapToIPv4();
        if (_candidates.TryGetValue((local, port), out var known)) return known;
        var list = Compute(local, port);
        if (_candidates.Count < 256) _candidates.TryAdd((local, port), list);
        return list;
    }

    private IReadOnlyList<VirtualHost> Compute(IPAddress local, int port)
    {
        int best = -1;
        var found = new List<VirtualHost>();
        foreach (var vh in _vhosts)
        {
            int score = -1;
            foreach (var a in vh.Addresses)
            {
                bool portOk = a.Port is null || a.Port == port;
                if (!portOk) continue;
                int s = a.AnyHost ? 0 : a.Ip is { } ip && ip.Equals(local) ? 2 : -1;
                if (s < 0) continue;
                if (a.Port is not null) s++;
                score = Math.Max(score, s);
            }
            if (score < 0) continue;
            if (score > best) { best = score; found.Clear(); }
            if (score == best) found.Add(vh);
        }
        return found;
    }

    /// <summary>Picks the vhost for a request; null when no vhost listens on that address at all.</summary>
    public VirtualHost? Select(IPAddress local, int port, string? hostHeader)
    {
        var candidates = Candidates(local, port);
        if (candidates.Count == 0) return null;
        string? host = hostHeader is null ? null : NormalizeHost(hostHeader);
        if (!string.IsNullOrEmpty(host))
        {
            foreach (var vh in candidates)
                if (Matches(vh, host)) return vh;
        }
        return candidates[0];
    }

    /// <summary>True when the (normalized) host is the vhost's ServerName or one of its aliases.</summary>
    public static bool Matches(VirtualHost vh, string host)
    {
        if (vh.Name.Length > 0 && string.Equals(vh.Name, host, StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var alias in vh.Aliases)
        {
            string a = NormalizeHost(alias);
            if (a.IndexOfAny(['*', '?']) >= 0 ? WildcardMatch(a, host) : string.Equals(a, host, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>Lower-cases, drops a ":port" (also after an IPv6 literal) and a trailing dot.</summary>
    public static string NormalizeHost(string host)
    {
        string h = host.Trim();
        if (h.StartsWith('['))
        {
            int close = h.IndexOf(']');
            if (close > 0) h = h[..(close + 1)];
        }
        else
        {
            int colon = h.IndexOf(':');
            if (colon >= 0 && h.LastIndexOf(':') == colon) h = h[..colon];
        }
        return h.TrimEnd('.').ToLowerInvariant();
    }

    /// <summary>Apache's ap_strcasecmp_match: '*' any run, '?' one character, case-insensitive.</summary>
    public static bool WildcardMatch(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToLowerInvariant(pattern[p]) == char.ToLowerInvariant(text[t]))) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
