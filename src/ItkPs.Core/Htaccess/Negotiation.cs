using System.Globalization;
using System.Text;

namespace ItkPs.Core.Htaccess;

/// <summary>ForceLanguagePriority's flags (mod_negotiation); unset means Prefer.</summary>
[Flags]
public enum ForceLanguage { Unset = 0, None = 1, Prefer = 2, Fallback = 4 }

/// <summary>MultiviewsMatch (mod_mime): which file name extensions make a file a MultiViews variant.</summary>
[Flags]
public enum MultiviewsMatch { Unset = 0, NegotiatedOnly = 1, Handlers = 2, Filters = 4, Any = 8 }

/// <summary>
/// mod_negotiation's server-driven choice among the variants Options MultiViews found: the
/// Accept, Accept-Language, Accept-Charset and Accept-Encoding lists with their q-values, Apache's
/// own selection order (type, language, LanguagePriority, level, charset, encoding, length) with
/// its fiddles for clients that send no q-values, the RFC 2296 algorithm when a client asks for it
/// with "Negotiate: 1.0", and the Vary / TCN / Alternates headers and the variant list of a 406.
/// Type maps (.var files) are not read.
/// </summary>
public static class Negotiation
{
    public const string CgiMagicType = "application/x-httpd-cgi";
    private const string IncludesType = "text/x-server-parsed-html", IncludesType3 = "text/x-server-parsed-html3";

    /// <summary>One item of an Accept* header (or a variant's content type): name, q (or qs), level, charset.</summary>
    public sealed record Item(string Name, float Quality, float Level, string Charset);

    /// <summary>A candidate file with what mod_mime found for it, and the qualities negotiation gives it.</summary>
    public sealed class Variant
    {
        public required string FileName { get; init; }
        public required string MimeType { get; init; }
        public float SourceQuality { get; init; } = 1f;
        public float Level { get; init; }
        public string Charset { get; init; } = "";
        public IReadOnlyList<string> Languages { get; init; } = [];
        public string? Encoding { get; init; }
        public long Bytes { get; init; } = -1;
        /// <summary>The variant has a handler (a script): no {length} in Alternates.</summary>
        public bool HasHandler { get; init; }
        public object? Tag { get; init; }
        public bool IsPseudoHtml => MimeType is "text/html" or IncludesType or IncludesType3;

        internal float MimeTypeQuality = 1f, LangQuality = 1f, CharsetQuality = 1f, EncodingQuality = 1f, LevelMatched;
        internal int LangIndex = -1, MimeStars;
        internal bool Definite = true;

        /// <summary>The qualities of a fresh negotiation (within one, as in Apache, they carry over to the second pass of prefer-language).</summary>
        internal void Reset()
        {
            MimeTypeQuality = LangQuality = CharsetQuality = EncodingQuality = 1f;
            LevelMatched = 0f; LangIndex = -1; MimeStars = 0; Definite = true;
        }
    }

    /// <summary>The request's side: its Accept* headers and the per-directory settings.</summary>
    public sealed class Request
    {
        public string? Accept { get; init; }
        public string? AcceptLanguage { get; init; }
        public string? AcceptCharset { get; init; }
        public string? AcceptEncoding { get; init; }
        public string? Negotiate { get; init; }
        public string? UserAgent { get; init; }
        /// <summary>GET or HEAD without PATH_INFO: the response may carry TCN and Content-Location.</summary>
        public bool Transparent { get; init; }
        /// <summary>POST, a query string or PATH_INFO: scripts are preferred (mod_negotiation's CGI fiddle).</summary>
        public bool PreferScripts { get; init; }
        public IReadOnlyList<string> LanguagePriority { get; init; } = [];
        public ForceLanguage Force { get; init; }
        /// <summary>The prefer-language, no-gzip and gzip-only-text/html environment variables.</summary>
        public string? PreferLanguage { get; init; }
        public bool NoGzip { get; init; }
        public bool GzipOnlyHtml { get; init; }
    }

    /// <summary>What negotiation decided: the variant (null when none is acceptable), the status to answer with instead (0, 300 or 406), and headers.</summary>
    public sealed record Result(Variant? Best, int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, string? VariantList);

    // ------------------------------------------------------------------ header parsing

    /// <summary>A comma-separated Accept*-style list; null when the header is absent.</summary>
    public static List<Item>? ParseList(string? line)
    {
        if (line is null) return null;
        var items = new List<Item>();
        int pos = 0;
        while (pos < line.Length)
        {
            int before = pos;
            items.Add(ParseItem(line, ref pos));
            if (pos == before) pos++; // a byte no rule consumes: skip it rather than loop
        }
        return items;
    }

    /// <summary>One media type or language with its parameters (get_entry): names lowercased, text/html at level 2 unless it says otherwise.</summary>
    public static Item ParseItem(string line, ref int pos)
    {
        string name = Token(line, ref pos, acceptWhite: false).ToLowerInvariant();
        float q = 1f, level = name is "text/html" or IncludesType ? 2f : name == IncludesType3 ? 3f : 0f;
        string charset = "";
        while (pos < line.Length && line[pos] == ';')
        {
            pos++;
            string parm = Token(line, ref pos, acceptWhite: true);
            int cp = 0;
            while (cp < parm.Length && !char.IsWhiteSpace(parm[cp]) && parm[cp] != '=') cp++;
            if (cp >= parm.Length) continue; // no '=': ignored
            string key = parm[..cp].ToLowerInvariant();
            while (cp < parm.Length && (char.IsWhiteSpace(parm[cp]) || parm[cp] == '=')) cp++;
            int end;
            if (cp < parm.Length && parm[cp] == '"')
            {
                cp++;
                end = cp;
                while (end < parm.Length && parm[end] is not ('\n' or '\r' or '"')) end++;
            }
            else
            {
                end = cp;
                while (end < parm.Length && !char.IsWhiteSpace(parm[end])) end++;
            }
            string value = parm[cp..end].ToLowerInvariant();
            if (key is "q" or "qs") q = Qvalue(value);
            else if (key == "level") level = Atoi(value);
            else if (key == "charset") charset = value;
        }
        if (pos < line.Length && line[pos] == ',') pos++;
        return new Item(name, q, level, charset);
    }

    /// <summary>ap_get_token: up to ';' or ',' (or white space unless allowed), skipping quoted strings; white space after it skipped.</summary>
    private static string Token(string s, ref int pos, bool acceptWhite)
    {
        while (pos < s.Length && char.IsWhiteSpace(s[pos])) pos++;
        int start = pos;
        while (pos < s.Length && (acceptWhite || !char.IsWhiteSpace(s[pos])) && s[pos] != ';' && s[pos] != ',')
        {
            if (s[pos++] == '"')
                while (pos < s.Length)
                    if (s[pos++] == '"') break;
        }
        string token = s[start..pos];
        while (pos < s.Length && char.IsWhiteSpace(s[pos])) pos++;
        return token;
    }

    /// <summary>A qvalue as mod_negotiation reads it: "0", "0.xyz" (three digits at most), anything else 1.</summary>
    private static float Qvalue(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        if (i >= s.Length) return 1f;
        if (s[i] != '.' && s[i++] != '0') return 1f;
        if (i < s.Length && s[i] == '.')
        {
            int n = 0;
            if (++i < s.Length && char.IsAsciiDigit(s[i]))
            {
                n += (s[i] - '0') * 100;
                if (++i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    n += (s[i] - '0') * 10;
                    if (++i < s.Length && s[i] > '0' && s[i] <= '9') n += s[i] - '0';
                }
            }
            return n / 1000f;
        }
        return 0f;
    }

    private static float Atoi(string s)
    {
        int i = 0, sign = 1, n = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        if (i < s.Length && s[i] is '-' or '+') { if (s[i] == '-') sign = -1; i++; }
        while (i < s.Length && char.IsAsciiDigit(s[i])) n = n * 10 + (s[i++] - '0');
        return sign * n;
    }

    // ------------------------------------------------------------------ negotiation

    private sealed class State
    {
        public List<Item>? Accepts, AcceptEncodings, AcceptCharsets, AcceptLangs;
        public bool AcceptQ, IsTransparent, DontFiddle, UaSupportsTrans, SendAlternates, MayChoose = true, UseRvsa;
        public float DefaultLangQuality = 1f;
    }

    /// <summary>
    /// Chooses among <paramref name="variants"/> (sorted by the caller: source quality, then file
    /// name) as do_negotiation does for a MultiViews request.
    /// </summary>
    public static Result Negotiate(Request req, IReadOnlyList<Variant> variants)
    {
        foreach (var v in variants) v.Reset();
        var neg = new State
        {
            Accepts = ParseList(req.Accept),
            AcceptEncodings = ParseList(req.AcceptEncoding),
            AcceptLangs = ParseList(req.AcceptLanguage),
            AcceptCharsets = ParseList(req.AcceptCharset),
            IsTransparent = req.Transparent,
        };
        if (neg.Accepts is not null) neg.AcceptQ = neg.Accepts.Any(a => a.Quality < 1f);
        if (neg.IsTransparent) ParseNegotiate(req, neg);
        else neg.MayChoose = true;

        // no Accept: */*; and a script is worth running only where the request looks like it wants one
        neg.Accepts ??= [new Item("*/*", 1f, 0f, "")];
        neg.Accepts.Add(new Item(CgiMagicType, neg.UseRvsa ? 0f : req.PreferScripts ? 2f : 0.001f, 0f, ""));

        var (best, list) = BestMatch(req, neg, variants);
        var headers = new List<KeyValuePair<string, string>>();
        if (list)
        {
            neg.SendAlternates = true;
            NegHeaders(neg, variants, headers, choice: false);
            string vlist = VariantList(variants);
            if (neg.IsTransparent && neg.UaSupportsTrans) return new Result(null, 300, headers, vlist);
            if (best is null) return new Result(null, 406, headers, vlist);
        }
        if (neg.IsTransparent)
        {
            headers.Add(new("Content-Location", RequestEngine.EscapeUri(best!.FileName).Replace("/", "%2f", StringComparison.Ordinal)));
            NegHeaders(neg, variants, headers, choice: true);
        }
        else NegHeaders(neg, variants, headers, choice: !list);
        return new Result(best, 0, headers, null);
    }

    /// <summary>The Negotiate header (RFC 2295): without one, Apache's algorithm with its fiddles and no Alternates.</summary>
    private static void ParseNegotiate(Request req, State neg)
    {
        string? negotiate = req.Negotiate;
        if (negotiate is null) return;
        // Lynx sends "negotiate: trans" without supporting transparent negotiation
        if (negotiate == "trans" && req.UserAgent is { } ua && ua.StartsWith("Lynx", StringComparison.Ordinal)) return;
        neg.MayChoose = false;
        foreach (var raw in negotiate.Split(','))
        {
            string tok = raw.Trim().ToLowerInvariant();
            if (tok.Length == 0) continue;
            if (tok is "trans" or "vlist" or "guess-small" || char.IsAsciiDigit(tok[0]) || tok == "*")
            {
                neg.UaSupportsTrans = true;
                neg.SendAlternates = true;
                if (tok == "1.0") { neg.MayChoose = true; neg.UseRvsa = true; neg.DontFiddle = true; }
                else if (tok[0] == '*') { neg.MayChoose = true; neg.DontFiddle = true; }
            }
        }
    }

    private static (Variant? Best, bool List) BestMatch(Request req, State neg, IReadOnlyList<Variant> variants)
    {
        string? preferred = req.PreferLanguage;
        int discard = req.NoGzip ? 1 : req.GzipOnlyHtml ? 2 : 0;
        neg.DefaultLangQuality = !neg.DontFiddle && variants.Any(v => v.Languages.Count > 0) ? 0.0001f : 1f;
        while (true)
        {
            Variant? best = null;
            float bestq = 0f;
            foreach (var v in variants)
            {
                if (discard != 0 && !IsIdentity(v.Encoding) && v.Encoding != "identity"
                    && (discard == 1 || !v.MimeType.StartsWith("text/html", StringComparison.Ordinal))) continue;
                if (preferred is not null && !v.Languages.Contains(preferred, StringComparer.Ordinal)) continue;
                SetAcceptQuality(neg, v);
                if (preferred is not null) { v.LangQuality = 1f; v.Definite = true; }
                else SetLanguageQuality(req, neg, v);
                SetEncodingQuality(neg, v);
                SetCharsetQuality(neg, v);
                if (neg.MayChoose && (neg.UseRvsa ? BetterRvsa(v, best, ref bestq) : Better(v, best, ref bestq))) best = v;
            }
            bool choice = neg.UseRvsa ? best is not null && best.Definite && bestq > 0 : bestq > 0;
            if (preferred is not null && (best is null || !choice)) { preferred = null; continue; }
            return (best, !choice);
        }
    }

    private static bool MimeMatch(Item accept, Variant v)
    {
        string a = accept.Name;
        if (a.Length > 0 && a[0] == '*')
        {
            if (v.MimeStars < 1) v.MimeStars = 1;
            return true;
        }
        if (a.Length >= 2 && a[^1] == '*' && string.CompareOrdinal(a, 0, v.MimeType, 0, a.Length - 2) == 0)
        {
            if (v.MimeStars < 2) v.MimeStars = 2;
            return true;
        }
        if (a == v.MimeType || (a == "text/html" && v.MimeType is IncludesType or IncludesType3))
        {
            if (accept.Level >= v.Level)
            {
                v.LevelMatched = v.Level;
                v.MimeStars = 3;
                return true;
            }
        }
        return false;
    }

    private static void SetAcceptQuality(State neg, Variant v)
    {
        float q = 0f;
        bool definite = true;
        foreach (var type in neg.Accepts!)
        {
            int prevStars = v.MimeStars;
            if (!MimeMatch(type, v) || prevStars == v.MimeStars) continue;
            if (!neg.DontFiddle && !neg.AcceptQ && v.MimeStars == 1) q = 0.01f;
            else if (!neg.DontFiddle && !neg.AcceptQ && v.MimeStars == 2) q = 0.02f;
            else q = type.Quality;
            definite = v.MimeStars == 3;
        }
        v.MimeTypeQuality = q;
        v.Definite = v.Definite && definite;
    }

    private static void SetLanguageQuality(Request req, State neg, Variant v)
    {
        var force = req.Force == ForceLanguage.Unset ? ForceLanguage.Prefer : req.Force;
        if (v.Languages.Count == 0)
        {
            if (!neg.DontFiddle) v.LangQuality = neg.DefaultLangQuality;
            return;
        }
        if (neg.AcceptLangs is null) v.Definite = false;
        else
        {
            Item? best = null, star = null;
            float fiddleQ = 0f;
            bool anyMatchOnStar = false;
            foreach (string lang in v.Languages)
            {
                Item? bestThisTag = null;
                int longest = 0;
                foreach (var a in neg.AcceptLangs)
                {
                    if (a.Name == "*") { star ??= a; continue; }
                    int alen = a.Name.Length;
                    if (lang.Length >= alen && string.CompareOrdinal(lang, 0, a.Name, 0, alen) == 0 && (lang.Length == alen || lang[alen] == '-'))
                    {
                        if (alen > longest) { longest = alen; bestThisTag = a; }
                    }
                    // a client asking for en-US still gets en or en-GB, at a low quality
                    if (bestThisTag is null && !neg.DontFiddle)
                    {
                        int dash = a.Name.IndexOf('-');
                        if (dash >= 0 && string.CompareOrdinal(lang, 0, a.Name, 0, dash) == 0) fiddleQ = 0.001f;
                    }
                }
                if (best is null || (bestThisTag is not null && bestThisTag.Quality > best.Quality)) best = bestThisTag;
                if (bestThisTag is null && star is not null) anyMatchOnStar = true;
            }
            if (anyMatchOnStar && (best is null || star!.Quality > best.Quality)) { best = star; v.Definite = false; }
            v.LangQuality = best is not null ? best.Quality : fiddleQ;
        }

        if ((force.HasFlag(ForceLanguage.Prefer) && v.LangIndex < 0) || (force.HasFlag(ForceLanguage.Fallback) && v.LangQuality == 0f))
        {
            int bestIdx = -1;
            foreach (string lang in v.Languages)
            {
                int idx = LangIndex(req.LanguagePriority, lang);
                if (idx >= 0 && (bestIdx == -1 || idx < bestIdx)) bestIdx = idx;
            }
            if (bestIdx >= 0)
            {
                if (v.LangQuality != 0f) { if (force.HasFlag(ForceLanguage.Prefer)) v.LangIndex = bestIdx; }
                else if (force.HasFlag(ForceLanguage.Fallback)) { v.LangIndex = bestIdx; v.LangQuality = 0.0001f; v.Definite = false; }
            }
        }
    }

    /// <summary>The position of the first LanguagePriority entry <paramref name="lang"/> starts with.</summary>
    private static int LangIndex(IReadOnlyList<string> priority, string lang)
    {
        for (int i = 0; i < priority.Count; i++)
            if (lang.StartsWith(priority[i], StringComparison.Ordinal)) return i;
        return -1;
    }

    private static bool IsIdentity(string? enc) => string.IsNullOrEmpty(enc) || enc is "7bit" or "8bit" or "binary";

    private static void SetEncodingQuality(State neg, Variant v)
    {
        string? enc = v.Encoding;
        if (neg.AcceptEncodings is null)
        {
            v.EncodingQuality = IsIdentity(enc) ? 1f : 0.5f;
            return;
        }
        float notFound = 0f;
        if (IsIdentity(enc)) { enc = "identity"; notFound = 0.0001f; }
        if (enc!.StartsWith("x-", StringComparison.Ordinal)) enc = enc[2..];
        Item? star = null;
        foreach (var a in neg.AcceptEncodings)
        {
            string name = a.Name.StartsWith("x-", StringComparison.Ordinal) ? a.Name[2..] : a.Name;
            if (name == enc) { v.EncodingQuality = a.Quality; return; }
            if (name == "*") star = a;
        }
        v.EncodingQuality = star is not null ? star.Quality : notFound;
    }

    private static void SetCharsetQuality(State neg, Variant v)
    {
        string charset = v.Charset;
        if (neg.AcceptCharsets is null)
        {
            if (charset.Length > 0) v.Definite = false;
            return;
        }
        if (charset.Length == 0)
        {
            if (!(v.MimeType.StartsWith("text/", StringComparison.Ordinal) || v.MimeType is IncludesType or IncludesType3)) return;
            if (neg.DontFiddle) return;
            charset = "iso-8859-1";
        }
        Item? star = null;
        foreach (var a in neg.AcceptCharsets)
        {
            if (a.Name == charset) { v.CharsetQuality = a.Quality; return; }
            if (a.Name == "*") star = a;
        }
        if (star is not null) { v.CharsetQuality = star.Quality; v.Definite = false; return; }
        v.CharsetQuality = charset == "iso-8859-1" ? 1f : 0f;
    }

    private static int LevelCmp(Variant a, Variant b)
    {
        if (a.IsPseudoHtml && !b.IsPseudoHtml) return 0;
        if (!a.IsPseudoHtml && a.MimeType != b.MimeType) return 0;
        if (a.LevelMatched > b.LevelMatched) return 1;
        if (a.LevelMatched < b.LevelMatched) return -1;
        if (a.Level < b.Level) return 1;
        if (a.Level > b.Level) return -1;
        return 0;
    }

    /// <summary>RFC 2296's algorithm: the product of the qualities; a tie goes to the better encoding.</summary>
    private static bool BetterRvsa(Variant v, Variant? best, ref float bestq)
    {
        if (v.EncodingQuality == 0f) return false;
        float q = v.MimeTypeQuality * v.SourceQuality * v.CharsetQuality * v.LangQuality;
        if (q <= 0f) return false;
        if (q > bestq) { bestq = q; return true; }
        if (q == bestq && best is not null && v.EncodingQuality > best.EncodingQuality) { bestq = q; return true; }
        return false;
    }

    /// <summary>Apache's own order: type × source quality, language, LanguagePriority, level, charset, encoding, then the shorter file.</summary>
    private static bool Better(Variant v, Variant? best, ref float bestq)
    {
        if (v.EncodingQuality == 0f || v.LangQuality == 0f || v.SourceQuality == 0f || v.CharsetQuality == 0f || v.MimeTypeQuality == 0f) return false;
        float q = v.MimeTypeQuality * v.SourceQuality;
        if (q == 0f || q < bestq) return false;
        if (q > bestq || best is null) { bestq = q; return true; }

        if (v.LangQuality < best.LangQuality) return false;
        if (v.LangQuality > best.LangQuality) { bestq = q; return true; }

        if (best.LangIndex != -1 && (v.LangIndex == -1 || v.LangIndex > best.LangIndex)) return false;
        if (v.LangIndex != -1 && (best.LangIndex == -1 || v.LangIndex < best.LangIndex)) { bestq = q; return true; }

        int lev = LevelCmp(v, best);
        if (lev == -1) return false;
        if (lev == 1) { bestq = q; return true; }

        if (v.CharsetQuality < best.CharsetQuality) return false;
        if (v.CharsetQuality > best.CharsetQuality
            || (v.Charset.Length > 0 && v.Charset != "iso-8859-1" && (best.Charset.Length == 0 || best.Charset == "iso-8859-1")))
        { bestq = q; return true; }

        if (v.EncodingQuality < best.EncodingQuality) return false;
        if (v.EncodingQuality > best.EncodingQuality) { bestq = q; return true; }

        if (v.Bytes >= best.Bytes) return false;
        bestq = q;
        return true;
    }

    // ------------------------------------------------------------------ response headers

    /// <summary>Vary (by whatever differs between the variants, plus "negotiate" when transparent), TCN, and Alternates when asked for.</summary>
    private static void NegHeaders(State neg, IReadOnlyList<Variant> variants, List<KeyValuePair<string, string>> headers, bool choice)
    {
        bool byType = false, byLang = false, byCharset = false, byEnc = false;
        var alternates = neg.SendAlternates && variants.Count > 0 ? new StringBuilder() : null;
        for (int j = 0; j < variants.Count; j++)
        {
            var v = variants[j];
            string lang = string.Join(',', v.Languages);
            if (j > 0)
            {
                var s = variants[0];
                byType |= s.MimeType != v.MimeType;
                byCharset |= s.Charset != v.Charset;
                byLang |= string.Join(',', s.Languages) != lang;
                byEnc |= (s.Encoding ?? "") != (v.Encoding ?? "");
            }
            if (alternates is null) continue;
            if (j > 0) alternates.Append(", ");
            alternates.Append("{\"").Append(RequestEngine.EscapeUri(v.FileName)).Append("\" ").Append(SourceQ(v.SourceQuality));
            if (v.MimeType.Length > 0) alternates.Append(" {type ").Append(v.MimeType).Append('}');
            if (v.Charset.Length > 0) alternates.Append(" {charset ").Append(v.Charset).Append('}');
            if (lang.Length > 0) alternates.Append(" {language ").Append(lang).Append('}');
            if (!string.IsNullOrEmpty(v.Encoding)) alternates.Append(" {encoding ").Append(v.Encoding).Append('}');
            if (!v.HasHandler && v.Bytes >= 0) alternates.Append(" {length ").Append(v.Bytes.ToString(CultureInfo.InvariantCulture)).Append('}');
            alternates.Append('}');
        }
        if (alternates is not null) headers.Add(new("Alternates", alternates.ToString()));
        if (neg.IsTransparent || byType || byLang || byCharset || byEnc)
        {
            var vary = new List<string>(5);
            if (neg.IsTransparent) vary.Add("negotiate");
            if (byType) vary.Add("accept");
            if (byLang) vary.Add("accept-language");
            if (byCharset) vary.Add("accept-charset");
            if (byEnc) vary.Add("accept-encoding");
            headers.Add(new("Vary", string.Join(", ", vary)));
        }
        if (neg.IsTransparent) headers.Add(new("TCN", choice ? "choice" : "list"));
    }

    /// <summary>A source quality as "%1.3f" without trailing zeros ("1", "0.5").</summary>
    private static string SourceQ(float q)
    {
        string s = q.ToString("0.000", CultureInfo.InvariantCulture);
        if (s[4] == '0')
        {
            s = s[..4];
            if (s[3] == '0') { s = s[..3]; if (s[2] == '0') s = s[..1]; }
        }
        return s;
    }

    /// <summary>The HTML list of variants a 406 (or 300) page carries.</summary>
    public static string VariantList(IReadOnlyList<Variant> variants)
    {
        var sb = new StringBuilder("Available variants:\n<ul>\n");
        foreach (var v in variants)
        {
            sb.Append("<li><a href=\"").Append(v.FileName).Append("\">").Append(v.FileName).Append("</a> ");
            if (v.MimeType.Length > 0) sb.Append(", type ").Append(v.MimeType);
            if (v.Languages.Count > 0) sb.Append(", language ").Append(string.Join(',', v.Languages));
            if (v.Charset.Length > 0) sb.Append(", charset ").Append(v.Charset);
            if (v.Encoding is not null) sb.Append(", encoding ").Append(v.Encoding);
            sb.Append("</li>\n");
        }
        return sb.Append("</ul>\n").ToString();
    }

    /// <summary>
    /// mod_negotiation's fix_encoding: a Content-Encoding the client listed in Accept-Encoding is
    /// sent in the client's spelling (gzip or x-gzip).
    /// </summary>
    public static string? FixEncoding(string? encoding, string? acceptEncoding)
    {
        if (string.IsNullOrEmpty(encoding)) return encoding;
        string enc = encoding.StartsWith("x-", StringComparison.Ordinal) ? encoding[2..] : encoding;
        var list = ParseList(acceptEncoding);
        if (list is null) return encoding;
        string? xenc = null;
        foreach (var a in list)
        {
            if (a.Name == enc) return a.Name;
            if (a.Name.StartsWith("x-", StringComparison.Ordinal) && a.Name[2..] == enc) xenc = a.Name;
        }
        return xenc ?? encoding;
    }
}
