using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Htaccess;

/// <summary>A RewriteCond's pattern kind (mod_rewrite's pattern_type).</summary>
public enum CondKind { Regex, FileExists, FileSize, Link, Dir, XBit, LookupUrl, LookupFile, StrLt, StrLe, StrEq, StrGt, StrGe, IntLt, IntLe, IntEq, IntGt, IntGe, Expr }

/// <summary>One RewriteCond.</summary>
public sealed class RewriteCondition
{
    public required string Input { get; init; }
    public required CondKind Kind { get; init; }
    public required string Pattern { get; init; }
    public Regex? Regex { get; init; }
    public Expr? Expr { get; init; }
    public bool NoCase { get; init; }
    public bool Negate { get; init; }
    public bool OrNext { get; init; }
}

/// <summary>RewriteRule flags (mod_rewrite's RULEFLAG_*).</summary>
[Flags]
public enum RuleFlags
{
    None = 0, Redirect = 1 << 1, Last = 1 << 2, Next = 1 << 3, Chain = 1 << 4, NoSubreq = 1 << 5, NotMatch = 1 << 6,
    Proxy = 1 << 7, PassThrough = 1 << 8, QsAppend = 1 << 9, NoCase = 1 << 10, NoEscape = 1 << 11, NoSub = 1 << 12,
    Status = 1 << 13, EscapeBackref = 1 << 14, DiscardPathInfo = 1 << 15, QsDiscard = 1 << 16, End = 1 << 17,
    EscapeNoPlus = 1 << 18, QsLast = 1 << 19, UnsafeAllow3F = 1 << 20, UnsafePrefixStat = 1 << 21,
}

/// <summary>One RewriteRule with the RewriteCond lines written before it.</summary>
public sealed class RewriteRuleEntry
{
    public required string PatternText { get; init; }
    public required Regex Regex { get; init; }
    public required string Output { get; init; }
    public RuleFlags Flags { get; init; }
    public int ForcedStatus { get; init; } = 302;
    public string? ForcedType { get; init; }
    public string? ForcedHandler { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    public IReadOnlyList<string> Cookies { get; init; } = [];
    public int Skip { get; init; }
    public int MaxRounds { get; init; } = 10000;
    public string? Escapes { get; init; }
    public IReadOnlyList<RewriteCondition> Conditions { get; init; } = [];
    public required string File { get; init; }
    public int Line { get; init; }

    private int _readsGroups; // 0 not yet known, 1 no, 2 yes

    /// <summary>
    /// Whether a $N of this rule is read anywhere (substitution, E=, CO=, T=, H=, a condition's
    /// test string, an expression): without one a match needs no groups, only a yes or no.
    /// </summary>
    public bool ReadsGroups
    {
        get
        {
            if (_readsGroups == 0)
            {
                bool reads = HasBackref(Output) || HasBackref(ForcedType) || HasBackref(ForcedHandler)
                    || Env.Any(HasBackref) || Cookies.Any(HasBackref) || Conditions.Any(c => c.Expr is not null || HasBackref(c.Input));
                _readsGroups = reads ? 2 : 1;
            }
            return _readsGroups == 2;
        }
    }

    /// <summary>
    /// The answer, without the regex interpreter, of the patterns nearly every .htaccess uses:
    /// WordPress's ".*" and "." ("." matches what holds a character other than a newline, ".*"
    /// everything) and plain, perhaps anchored, text ("^index\.php$"); null for any other pattern.
    /// </summary>
    public bool? QuickMatch(string input)
    {
        switch (PatternText)
        {
            case ".*" or "^.*" or "^": return true;
            case ".": return input.AsSpan().IndexOfAnyExcept('\n') >= 0;
        }
        _literal ??= LiteralPattern.Of(PatternText, Flags.HasFlag(RuleFlags.NoCase));
        return _literal.Match(input);
    }

    private LiteralPattern? _literal;

    private static bool HasBackref(string? s)
    {
        if (s is null) return false;
        for (int i = s.IndexOf('$'); i >= 0 && i + 1 < s.Length; i = s.IndexOf('$', i + 1))
            if (char.IsAsciiDigit(s[i + 1])) return true;
        return false;
    }
}

/// <summary>
/// A pattern that is plain text, perhaps anchored ("^index\.php$", "^wp-admin", "\.css$"), matched
/// as a string comparison instead of by the regex interpreter; any other pattern answers null.
/// As in PCRE, "$" also matches before a final newline.
/// </summary>
internal sealed class LiteralPattern
{
    private static readonly LiteralPattern NotLiteral = new(null, false, false, false);
    private readonly string? _text;
    private readonly bool _start, _end;
    private readonly StringComparison _cmp;

    private LiteralPattern(string? text, bool start, bool end, bool noCase)
    {
        _text = text; _start = start; _end = end; _cmp = noCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
    }

    public static LiteralPattern Of(string pattern, bool noCase)
    {
        int from = 0, to = pattern.Length;
        bool start = to > 0 && pattern[0] == '^';
        if (start) from = 1;
        bool end = to > from && pattern[to - 1] == '$' && (to - 2 < from || pattern[to - 2] != '\\');
        if (end) to--;
        var sb = new System.Text.StringBuilder(to - from);
        for (int i = from; i < to; i++)
        {
            char c = pattern[i];
            if (c == '\\')
            {
                // an escaped punctuation character stands for itself; \d, \w, \b... are classes
                if (i + 1 >= to || char.IsAsciiLetterOrDigit(pattern[i + 1]) || pattern[i + 1] > 127) return NotLiteral;
                sb.Append(pattern[++i]);
                continue;
            }
            if (c is '.' or '*' or '+' or '?' or '(' or ')' or '[' or ']' or '{' or '}' or '|' or '^' or '$' || c > 127) return NotLiteral;
            // with NC only ASCII letters fold, as the two servers' regex engines agree on those
            sb.Append(c);
        }
        if (sb.Length == 0) return NotLiteral;
        return new LiteralPattern(sb.ToString(), start, end, noCase);
    }

    public bool? Match(string input)
    {
        if (_text is null) return null;
        if (_start && _end) return input.Equals(_text, _cmp) || (input.Length == _text.Length + 1 && input[^1] == '\n' && input.StartsWith(_text, _cmp));
        if (_start) return input.StartsWith(_text, _cmp);
        if (_end) return input.EndsWith(_text, _cmp) || (input.Length > 0 && input[^1] == '\n' && input.AsSpan(0, input.Length - 1).EndsWith(_text, _cmp));
        return input.Contains(_text, _cmp);
    }
}

/// <summary>RewriteOptions bits.</summary>
[Flags]
public enum RewriteOpt { None = 0, Inherit = 1, InheritBefore = 2, InheritDown = 4, InheritDownBefore = 8, IgnoreInherit = 16, AllowNoSlash = 32, AllowAnyUri = 64, MergeBase = 128, IgnoreContextInfo = 256, LegacyPrefixDocroot = 512 }

/// <summary>mod_rewrite's per-directory configuration, merged as config_perdir_merge does.</summary>
public sealed class RewriteConf
{
    public bool? Engine { get; init; }
    public RewriteOpt? Options { get; init; }
    /// <summary>The directory (with a trailing slash) the rules were written for; their per-directory prefix.</summary>
    public string? Directory { get; init; }
    public string? BaseUrl { get; init; }
    public bool BaseSet { get; init; }
    public IReadOnlyList<RewriteRuleEntry> Rules { get; init; } = [];

    public static readonly RewriteConf Default = new();

    public static RewriteConf Merge(RewriteConf b, RewriteConf n)
    {
        var options = n.Options ?? b.Options ?? RewriteOpt.None;
        var bopts = b.Options ?? RewriteOpt.None;
        IReadOnlyList<RewriteRuleEntry> rules;
        if (options.HasFlag(RewriteOpt.Inherit) || (bopts.HasFlag(RewriteOpt.InheritDown) && !options.HasFlag(RewriteOpt.IgnoreInherit)))
            rules = [.. n.Rules, .. b.Rules];
        else if (options.HasFlag(RewriteOpt.InheritBefore) || (bopts.HasFlag(RewriteOpt.InheritDownBefore) && !options.HasFlag(RewriteOpt.IgnoreInherit)))
            rules = [.. b.Rules, .. n.Rules];
        else rules = n.Rules;
        bool mergeBase = options.HasFlag(RewriteOpt.MergeBase);
        return new RewriteConf
        {
            Engine = n.Engine ?? b.Engine,
            Options = n.Options ?? b.Options,
            Directory = n.Directory,
            BaseUrl = mergeBase ? (n.BaseSet ? n.BaseUrl : b.BaseUrl) : n.BaseUrl,
            BaseSet = mergeBase ? n.BaseSet || b.BaseSet : n.BaseSet,
            Rules = rules,
        };
    }
}

/// <summary>mod_rewrite's vhost-level rules (translate phase, matched against the URL path).</summary>
public sealed class RewriteServerConf
{
    public bool Engine { get; init; }
    public RewriteOpt Options { get; init; }
    public IReadOnlyList<RewriteRuleEntry> Rules { get; init; } = [];
}

/// <summary>Parses RewriteRule and RewriteCond arguments the way mod_rewrite does (its own splitter, its own flag lexer).</summary>
public static class RewriteParser
{
    /// <summary>mod_rewrite's parseargline: up to three words, quotes group, a backslash before white space escapes it.</summary>
    public static string? SplitArgs(string str, out string? a1, out string? a2, out string? a3)
    {
        a1 = a2 = a3 = null;
        int i = 0;
        string? Word()
        {
            while (i < str.Length && char.IsWhiteSpace(str[i])) i++;
            if (i >= str.Length) return null;
            char quote = str[i] is '"' or '\'' ? str[i++] : '\0';
            var sb = new StringBuilder();
            for (; i < str.Length; i++)
            {
                char c = str[i];
                if ((char.IsWhiteSpace(c) && quote == '\0') || c == quote) { i++; break; }
                if (c == '\\' && i + 1 < str.Length && char.IsWhiteSpace(str[i + 1])) { sb.Append(str[i + 1]); i++; continue; }
                sb.Append(c);
            }
            return sb.ToString();
        }
        a1 = Word();
        a2 = Word();
        if (a1 is null || a2 is null) return "bad argument line: at least two arguments required";
        a3 = Word();
        while (i < str.Length && char.IsWhiteSpace(str[i])) i++;
        if (i < str.Length) return "bad flag delimiters: too many arguments or rogue whitespace";
        if (a3 is not null)
        {
            if (a3.Length == 0 || a3[0] != '[') return $"bad flag delimiters: third argument must begin with '[' but found '{(a3.Length > 0 ? a3[0] : ' ')}' - too many arguments or rogue whitespace?";
            if (a3[^1] != ']') return $"bad flag delimiters: third argument must end with ']' but found '{a3[^1]}' - unintended whitespace within the flags definition?";
        }
        return null;
    }

    /// <summary>"[NC,OR]" → (key, value) pairs.</summary>
    private static IEnumerable<(string Key, string Value)> Flags(string field)
    {
        foreach (var part in field[1..^1].Split(','))
        {
            string f = part.Trim();
            if (f.Length == 0) continue;
            int eq = f.IndexOf('=');
            yield return eq < 0 ? (f, "") : (f[..eq].TrimEnd(), f[(eq + 1)..]);
        }
    }

    public static RewriteCondition ParseCond(string raw, Func<string, Expr> parseExpr)
    {
        string? err = SplitArgs(raw, out var a1, out var a2, out var a3);
        if (err is not null) throw new FormatException($"RewriteCond: {err} (TestString={a1}, CondPattern={a2}, flags={a3})");
        bool nocase = false, ornext = false;
        if (a3 is not null)
            foreach (var (k, _) in Flags(a3))
            {
                if (k.Equals("nocase", StringComparison.OrdinalIgnoreCase) || k.Equals("NC", StringComparison.OrdinalIgnoreCase)) nocase = true;
                else if (k.Equals("ornext", StringComparison.OrdinalIgnoreCase) || k.Equals("OR", StringComparison.OrdinalIgnoreCase)) ornext = true;
                else if (k.Equals("novary", StringComparison.OrdinalIgnoreCase) || k.Equals("NV", StringComparison.OrdinalIgnoreCase)) { }
                else throw new FormatException($"RewriteCond: unknown flag '{k}'");
            }
        string p = a2!;
        bool negate = false;
        if (p.StartsWith('!')) { negate = true; p = p[1..]; }
        var kind = CondKind.Regex;
        if (a1!.Equals("expr", StringComparison.OrdinalIgnoreCase)) kind = CondKind.Expr;
        else if (p.Length >= 2)
        {
            if (p[0] == '-')
            {
                if (p.Length == 2)
                    kind = p[1] switch
                    {
                        'f' => CondKind.FileExists, 's' => CondKind.FileSize, 'd' => CondKind.Dir, 'x' => CondKind.XBit,
                        'h' or 'L' or 'l' => CondKind.Link, 'U' => CondKind.LookupUrl, 'F' => CondKind.LookupFile, _ => CondKind.Regex,
                    };
                else if (p.Length > 3)
                {
                    string op = p[1..3];
                    var k = op switch { "lt" => CondKind.IntLt, "le" => CondKind.IntLe, "gt" => CondKind.IntGt, "ge" => CondKind.IntGe, "eq" => CondKind.IntEq, "ne" => CondKind.IntEq, _ => CondKind.Regex };
                    if (k != CondKind.Regex) { kind = k; if (op == "ne") negate = !negate; p = p[3..]; }
                }
            }
            else
            {
                switch (p[0])
                {
                    case '>': if (p[1] == '=') { kind = CondKind.StrGe; p = p[2..]; } else { kind = CondKind.StrGt; p = p[1..]; } break;
                    case '<': if (p[1] == '=') { kind = CondKind.StrLe; p = p[2..]; } else { kind = CondKind.StrLt; p = p[1..]; } break;
                    case '=': kind = CondKind.StrEq; p = p[1..]; if (p == "\"\"") p = ""; break;
                }
            }
        }
        if (kind is not (CondKind.Regex or CondKind.StrLt or CondKind.StrLe or CondKind.StrEq or CondKind.StrGt or CondKind.StrGe)) nocase = false;
        Regex? rx = null;
        Expr? expr = null;
        if (kind == CondKind.Regex)
        {
            try { rx = PcreRegex.Get(p, nocase); }
            catch (ArgumentException) { throw new FormatException($"RewriteCond: cannot compile regular expression '{p}'"); }
        }
        else if (kind == CondKind.Expr)
        {
            try { expr = parseExpr(p); }
            catch (FormatException e) { throw new FormatException($"RewriteCond: cannot compile expression \"{p}\": {e.Message}"); }
        }
        return new RewriteCondition { Input = a1, Kind = kind, Pattern = p, Regex = rx, Expr = expr, NoCase = nocase, Negate = negate, OrNext = ornext };
    }

    public static RewriteRuleEntry ParseRule(string raw, IReadOnlyList<RewriteCondition> conds, string file, int line)
    {
        string? err = SplitArgs(raw, out var a1, out var a2, out var a3);
        if (err is not null) throw new FormatException($"RewriteRule: {err} (pattern='{a1}', substitution='{a2}', flags='{a3}')");
        var flags = RuleFlags.None;
        int status = 302, skip = 0, maxRounds = 10000;
        string? type = null, handler = null, escapes = null;
        var env = new List<string>();
        var cookies = new List<string>();
        if (a3 is not null)
        {
            foreach (var (key, val) in Flags(a3))
            {
                string k = key.ToLowerInvariant();
                switch (k)
                {
                    case "b": case "backrefescaping": flags |= RuleFlags.EscapeBackref; if (val.Length > 0) escapes = val; break;
                    case "bnp": case "backrefnoplus": flags |= RuleFlags.EscapeNoPlus; break;
                    case "c": case "chain": flags |= RuleFlags.Chain; break;
                    case "co": case "cookie": cookies.Add(val); break;
                    case "dpi": case "discardpath": case "discardpathinfo": flags |= RuleFlags.DiscardPathInfo; break;
                    case "e": case "env": env.Add(val); break;
                    case "end": flags |= RuleFlags.End; break;
                    case "f": case "forbidden": flags |= RuleFlags.Status | RuleFlags.NoSub; status = 403; break;
                    case "g": case "gone": flags |= RuleFlags.Status | RuleFlags.NoSub; status = 410; break;
                    case "h": case "handler": handler = val; break;
                    case "l": case "last": flags |= RuleFlags.Last; break;
                    case "ne": case "noescape": flags |= RuleFlags.NoEscape; break;
                    case "n": case "next": flags |= RuleFlags.Next; if (val.Length > 0 && int.TryParse(val, out int mr)) maxRounds = mr; break;
                    case "ns": case "nosubreq": flags |= RuleFlags.NoSubreq; break;
                    case "nc": case "nocase": flags |= RuleFlags.NoCase; break;
                    case "p": case "proxy": flags |= RuleFlags.Proxy; break;
                    case "pt": case "passthrough": flags |= RuleFlags.PassThrough; break;
                    case "qsa": case "qsappend": flags |= RuleFlags.QsAppend; break;
                    case "qsd": case "qsdiscard": flags |= RuleFlags.QsDiscard; break;
                    case "qsl": case "qslast": flags |= RuleFlags.QsLast; break;
                    case "unsafeallow3f": flags |= RuleFlags.UnsafeAllow3F; break;
                    case "unsafeprefixstat": flags |= RuleFlags.UnsafePrefixStat; break;
                    case "r": case "redirect":
                        flags |= RuleFlags.Redirect;
                        if (val.Length > 0)
                        {
                            if (val.Equals("permanent", StringComparison.OrdinalIgnoreCase)) status = 301;
                            else if (val.Equals("temp", StringComparison.OrdinalIgnoreCase)) status = 302;
                            else if (val.Equals("seeother", StringComparison.OrdinalIgnoreCase)) status = 303;
                            else if (char.IsDigit(val[0]) && int.TryParse(val, NumberStyles.None, CultureInfo.InvariantCulture, out int code))
                            {
                                if (code != 500 && !ErrorPages.IsKnown(code)) throw new FormatException($"RewriteRule: invalid HTTP response code '{val}' for flag 'R'");
                                status = code;
                                if (code is < 300 or > 399) flags |= RuleFlags.Status | RuleFlags.NoSub;
                            }
                            else status = 0;
                        }
                        break;
                    case "s": case "skip": int.TryParse(val, out skip); break;
                    case "t": case "type": type = val; break;
                    default: throw new FormatException($"RewriteRule: unknown flag '{key}'");
                }
            }
        }
        string pattern = a1!;
        if (pattern.StartsWith('!')) { flags |= RuleFlags.NotMatch; pattern = pattern[1..]; }
        Regex rx;
        try { rx = PcreRegex.Get(pattern, flags.HasFlag(RuleFlags.NoCase)); }
        catch (ArgumentException) { throw new FormatException($"RewriteRule: cannot compile regular expression '{pattern}'"); }
        if (a2 == "-") flags |= RuleFlags.NoSub;
        return new RewriteRuleEntry
        {
            PatternText = a1!, Regex = rx, Output = a2!, Flags = flags, ForcedStatus = status, ForcedType = type, ForcedHandler = handler,
            Env = env, Cookies = cookies, Skip = skip, MaxRounds = maxRounds, Escapes = escapes, Conditions = conds, File = file, Line = line,
        };
    }
}

/// <summary>What the rewrite engine needs of the server around it.</summary>
public interface IRewriteHost
{
    /// <summary>A %{VAR} of mod_rewrite (lookup_variable), for this request.</summary>
    string Variable(RequestRec r, string name);
    /// <summary>-U: the status of a subrequest for the URL; -F: for the file.</summary>
    int LookupStatus(RequestRec r, string target, bool isFile);
    IExprContext ExprContext(RequestRec r);
    /// <summary>The path of a request's FollowSymLinks check and the per-request log.</summary>
    void Log(RequestRec r, string message);
}

/// <summary>
/// mod_rewrite's engine: apply_rewrite_list / apply_rewrite_rule / apply_rewrite_cond, with the
/// per-directory prefix stripped from and added back to the path exactly as Apache does, the query
/// string split out (QSA, QSD, QSL), back-references $N (rule) and %N (last matched condition),
/// [B] escaping, chains, skips and rounds.
/// </summary>
public sealed class RewriteEngine(IRewriteHost host)
{
    /// <summary>The outcome of a rule list (ACTION_*): nothing changed, a change, or a status to answer with.</summary>
    public enum Outcome { None, Changed, ChangedNoEscape, Status }

    private sealed class Ctx
    {
        public required RequestRec R { get; init; }
        public string? PerDir { get; init; }
        public string Uri = "";
        public string? RuleSource;
        public Match? RuleMatch;
        public string? CondSource;
        public List<string>? CondGroups;
        public List<string> Vary = new();
    }

    /// <summary>Applies a rule list; <paramref name="perDir"/> is the directory prefix in per-directory context, null in the vhost's.</summary>
    public Outcome ApplyList(RequestRec r, IReadOnlyList<RewriteRuleEntry> rules, string? perDir) => ApplyList(r, rules, perDir, out _);

    /// <summary>As above; <paramref name="lastSub"/> is the last rule that substituted (mod_rewrite's lastsub, for prefix_stat).</summary>
    public Outcome ApplyList(RequestRec r, IReadOnlyList<RewriteRuleEntry> rules, string? perDir, out RewriteRuleEntry? lastSub)
    {
        lastSub = null;
        var ctx = new Ctx { R = r, PerDir = perDir };
        var changed = Outcome.None;
        int round = 1;
    loop:
        for (int i = 0; i < rules.Count; i++)
        {
            var p = rules[i];
            if (r.IsSubrequest && (p.Flags.HasFlag(RuleFlags.NoSubreq) || p.Flags.HasFlag(RuleFlags.Redirect))) continue;
            ctx.Vary.Clear();
            int rc = ApplyRule(p, ctx);
            if (rc != 0)
            {
                if ((r.Filename?.Length ?? 0) > 2 * 8190)
                {
                    host.Log(r, $"RewriteRule '{p.PatternText}' and URI '{r.Uri}' exceeded maximum length ({2 * 8190})");
                    r.Status = 500;
                    return Outcome.Status;
                }
                if (ctx.Vary.Count > 0) r.HeadersOut.Merge("Vary", string.Join(", ", ctx.Vary));
                if (rc == 3 || p.Flags.HasFlag(RuleFlags.Status)) return Outcome.Status;
                if (rc != 2) { changed = p.Flags.HasFlag(RuleFlags.NoEscape) ? Outcome.ChangedNoEscape : Outcome.Changed; lastSub = p; }
                if (p.Flags.HasFlag(RuleFlags.PassThrough))
                {
                    r.Filename = "passthrough:" + r.Filename;
                    changed = Outcome.Changed;
                    break;
                }
                if (p.Flags.HasFlag(RuleFlags.End)) { r.X.RewriteEnded = true; break; }
                if (p.Flags.HasFlag(RuleFlags.Proxy) || p.Flags.HasFlag(RuleFlags.Last)) break;
                if (p.Flags.HasFlag(RuleFlags.Next))
                {
                    if (++round >= p.MaxRounds)
                    {
                        host.Log(r, $"RewriteRule '{p.PatternText}' and URI '{r.Uri}' exceeded maximum number of rounds ({p.MaxRounds}) via the [N] flag");
                        r.Status = 500;
                        return Outcome.Status;
                    }
                    goto loop;
                }
                if (p.Skip > 0) i += p.Skip;
            }
            else
            {
                while (i < rules.Count && rules[i].Flags.HasFlag(RuleFlags.Chain)) i++;
            }
        }
        return changed;
    }

    /// <summary>0: no match; 1: applied; 2: matched without substitution; 3: a status to answer with (refused substitution).</summary>
    private int ApplyRule(RewriteRuleEntry p, Ctx ctx)
    {
        var r = ctx.R;
        ctx.Uri = r.Filename ?? r.Uri;
        bool isProxy = false;
        if (ctx.PerDir is { } perDir)
        {
            if (r.PathInfo.Length > 0) ctx.Uri += r.PathInfo;
            if (ctx.Uri.Length >= perDir.Length && ctx.Uri.StartsWith(perDir, StringComparison.Ordinal)) ctx.Uri = ctx.Uri[perDir.Length..];
        }
        Match? m = null;
        bool matched = p.ReadsGroups ? (m = PcreRegex.Match(p.Regex, ctx.Uri)) is not null : p.QuickMatch(ctx.Uri) ?? PcreRegex.IsMatch(p.Regex, ctx.Uri);
        if (matched == p.Flags.HasFlag(RuleFlags.NotMatch)) return 0;
        ctx.CondSource = null; ctx.CondGroups = null;
        if (p.Flags.HasFlag(RuleFlags.NotMatch)) { ctx.RuleSource = null; ctx.RuleMatch = null; }
        else { ctx.RuleSource = ctx.Uri; ctx.RuleMatch = m; }

        var conds = p.Conditions;
        for (int i = 0; i < conds.Count; i++)
        {
            var c = conds[i];
            bool ok = ApplyCond(c, ctx);
            if (c.OrNext)
            {
                if (!ok) continue;
                while (i < conds.Count && conds[i].OrNext) i++;
            }
            else if (!ok) return 0;
        }

        string? newUri = null;
        if (!p.Flags.HasFlag(RuleFlags.NoSub))
        {
            newUri = Expand(p.Output, ctx, p);
            // 2.4.60+: a '?' that the expansion brought in (not one written in the substitution)
            // while the request escaped one as %3F would split the path where the client did not.
            if (!p.Flags.HasFlag(RuleFlags.UnsafeAllow3F) && r.Original.UnparsedUri.Contains("%3f", StringComparison.OrdinalIgnoreCase)
                && Count(newUri, '?') > Count(Literal(p.Output), '?'))
            {
                host.Log(r, "AH10508: Unsafe URL with %3f URL rewritten without UnsafeAllow3F");
                r.Status = 403;
                return 3;
            }
        }
        foreach (var e in p.Env) SetEnv(Expand(e, ctx, null), r);
        foreach (var c in p.Cookies) AddCookie(Expand(c, ctx, null), r);

        if (p.Flags.HasFlag(RuleFlags.NoSub))
        {
            ForceTypeHandler(p, ctx);
            if (p.Flags.HasFlag(RuleFlags.Status)) r.Status = p.ForcedStatus;
            return 2;
        }

        r.Filename = newUri;
        if (ctx.PerDir is not null && p.Flags.HasFlag(RuleFlags.DiscardPathInfo)) r.PathInfo = "";
        SplitQuery(r, p.Flags.HasFlag(RuleFlags.QsAppend), p.Flags.HasFlag(RuleFlags.QsDiscard), p.Flags.HasFlag(RuleFlags.QsLast));
        if (ctx.PerDir is not null && !isProxy && !r.Filename!.StartsWith('/') && AbsoluteUriSchemeLength(r.Filename) == 0)
            r.Filename = ctx.PerDir + r.Filename;
        if (p.Flags.HasFlag(RuleFlags.Proxy))
        {
            // mod_proxy is not part of itkd: Apache without it answers 403 to a proxy rule too
            host.Log(r, $"attempt to make remote request from mod_rewrite without proxy enabled: {r.Filename}");
            r.Status = 403;
            return 3;
        }
        if (p.Flags.HasFlag(RuleFlags.Redirect))
        {
            FullyQualify(r);
            r.Status = p.ForcedStatus;
            return 1;
        }
        ReduceUri(r);
        if (AbsoluteUriSchemeLength(r.Filename!) > 0)
        {
            r.Status = p.ForcedStatus;
            return 1;
        }
        ForceTypeHandler(p, ctx);
        return 1;
    }

    private static int Count(string s, char c) { int n = 0; foreach (char x in s) if (x == c) n++; return n; }

    /// <summary>The substitution's literal text, without its $N, %N and %{…} parts.</summary>
    private static string Literal(string output)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < output.Length; i++)
        {
            char c = output[i];
            if (c == '\\' && i + 1 < output.Length) { sb.Append(output[++i]); continue; }
            if ((c == '$' || c == '%') && i + 1 < output.Length)
            {
                if (char.IsDigit(output[i + 1])) { i++; continue; }
                if (output[i + 1] == '{')
                {
                    int close = output.IndexOf('}', i);
                    if (close > 0) { i = close; continue; }
                }
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    private void ForceTypeHandler(RewriteRuleEntry p, Ctx ctx)
    {
        if (p.ForcedType is { } t) { string v = Expand(t, ctx, p).ToLowerInvariant(); if (v.Length > 0) ctx.R.ForcedType = v; }
        if (p.ForcedHandler is { } h) { string v = Expand(h, ctx, p).ToLowerInvariant(); if (v.Length > 0) ctx.R.ForcedHandler = v; }
    }

    private bool ApplyCond(RewriteCondition c, Ctx ctx)
    {
        var r = ctx.R;
        bool rc = false;
        if (c.Kind == CondKind.Expr)
        {
            var groups = new List<string>();
            rc = c.Expr!.Evaluate(host.ExprContext(r), groups);
            if (rc && !c.Negate && groups.Count > 0) { ctx.CondSource = ""; ctx.CondGroups = groups; }
            return c.Negate ? !rc : rc;
        }
        string input = Expand(c.Input, ctx, null);
        switch (c.Kind)
        {
            case CondKind.FileExists: rc = r.StatOf(input).Kind == FileKind.Regular; break;
            case CondKind.FileSize: { var st = r.StatOf(input); rc = st.Kind == FileKind.Regular && st.Size > 0; break; }
            case CondKind.Link: rc = FileStat.IsSymlink(input, out _); break;
            case CondKind.Dir: rc = r.StatOf(input).Kind == FileKind.Directory; break;
            case CondKind.XBit: { var st = r.StatOf(input); rc = st.Kind != FileKind.None && (st.Mode & 0b001_001_001) != 0; break; }
            case CondKind.LookupUrl: rc = input.Length > 0 && host.LookupStatus(r, input, false) < 400; break;
            case CondKind.LookupFile: rc = input.Length > 0 && host.LookupStatus(r, input, true) < 300 && FileStat.Of(input).Kind != FileKind.None; break;
            case CondKind.StrGe: rc = Cmp(input, c.Pattern, c.NoCase) >= 0; break;
            case CondKind.StrGt: rc = Cmp(input, c.Pattern, c.NoCase) >= 1; break;
            case CondKind.StrLe: rc = Cmp(input, c.Pattern, c.NoCase) <= 0; break;
            case CondKind.StrLt: rc = Cmp(input, c.Pattern, c.NoCase) <= -1; break;
            case CondKind.StrEq: rc = c.NoCase ? string.Equals(input, c.Pattern, StringComparison.OrdinalIgnoreCase) : input == c.Pattern; break;
            case CondKind.IntGe: rc = Atoi(input) >= Atoi(c.Pattern); break;
            case CondKind.IntGt: rc = Atoi(input) > Atoi(c.Pattern); break;
            case CondKind.IntLe: rc = Atoi(input) <= Atoi(c.Pattern); break;
            case CondKind.IntLt: rc = Atoi(input) < Atoi(c.Pattern); break;
            case CondKind.IntEq: rc = Atoi(input) == Atoi(c.Pattern); break;
            default:
                var m = PcreRegex.Match(c.Regex!, input);
                rc = m is not null;
                if (rc && !c.Negate)
                {
                    ctx.CondSource = input;
                    ctx.CondGroups = new List<string>();
                    for (int i = 0; i < m!.Groups.Count && i < 10; i++) ctx.CondGroups.Add(m.Groups[i].Success ? m.Groups[i].Value : "");
                }
                break;
        }
        return c.Negate ? !rc : rc;
    }

    /// <summary>compare_lexicography: a longer string is greater, else byte order; NC uses strcasecmp.</summary>
    private static int Cmp(string a, string b, bool nocase)
    {
        if (nocase) return Math.Sign(string.Compare(a, b, StringComparison.OrdinalIgnoreCase));
        if (a.Length != b.Length) return a.Length > b.Length ? 1 : -1;
        return Math.Sign(string.CompareOrdinal(a, b));
    }

    private static long Atoi(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        int start = i;
        if (i < s.Length && s[i] is '-' or '+') i++;
        while (i < s.Length && char.IsDigit(s[i])) i++;
        return long.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v : 0;
    }

    /// <summary>
    /// do_expand: one pass over the string, so that expanded text is never expanded again. The
    /// template is cut into its pieces once (per distinct string, which come from the configuration
    /// and .htaccess files) and only the variables and back-references are looked up per request.
    /// </summary>
    private string Expand(string input, Ctx ctx, RewriteRuleEntry? entry)
    {
        if (input.IndexOfAny(['\\', '$', '%']) < 0) return input; // nothing to expand: no look-up either
        var t = Compiled(input);
        if (t.Literal is { } literal) return literal;
        var pieces = t.Pieces!;
        if (pieces.Length == 1 && pieces[0].Kind == PieceKind.Variable) return host.Variable(ctx.R, pieces[0].Text);
        if (pieces.Length == 2 && pieces[0].Kind == PieceKind.Literal && pieces[1].Kind == PieceKind.Variable)
            return string.Concat(pieces[0].Text, host.Variable(ctx.R, pieces[1].Text));
        var sb = new StringBuilder(input.Length + 32);
        foreach (var piece in pieces)
        {
            switch (piece.Kind)
            {
                case PieceKind.Literal: sb.Append(piece.Text); break;
                case PieceKind.Variable: sb.Append(host.Variable(ctx.R, piece.Text)); break;
                case PieceKind.MapDefault: sb.Append(Expand(piece.Text, ctx, entry)); break;
                default:
                    int k = piece.Index;
                    string? value = null;
                    if (piece.Kind == PieceKind.RuleGroup) { if (ctx.RuleMatch is { } rm && k < rm.Groups.Count && rm.Groups[k].Success && rm.Groups[k].Length > 0) value = rm.Groups[k].Value; }
                    else if (ctx.CondGroups is { } cg && k < cg.Count && cg[k].Length > 0) value = cg[k];
                    if (value is not null)
                        sb.Append(entry is not null && entry.Flags.HasFlag(RuleFlags.EscapeBackref) ? EscapeBackref(value, entry.Escapes, entry.Flags.HasFlag(RuleFlags.EscapeNoPlus)) : value);
                    break;
            }
        }
        return sb.ToString();
    }

    private enum PieceKind : byte { Literal, Variable, RuleGroup, CondGroup, MapDefault }

    private readonly record struct Piece(PieceKind Kind, string Text, int Index = 0);

    /// <summary>A template cut into pieces; <see cref="Literal"/> when it has nothing to expand.</summary>
    private sealed record Template(string? Literal, Piece[]? Pieces);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Template> _templates = new(StringComparer.Ordinal);

    private Template Compiled(string input)
    {
        if (_templates.TryGetValue(input, out var t)) return t;
        t = Compile(input);
        // bounded: a .htaccess edited over and over leaves old strings behind, and a long one is rare
        if (input.Length <= 1024 && _templates.Count < 4096) _templates.TryAdd(input, t);
        return t;
    }

    /// <summary>The pieces of a template, in the order and with the rules do_expand reads them.</summary>
    private static Template Compile(string input)
    {
        if (input.IndexOfAny(['\\', '$', '%']) < 0) return new Template(input, null);
        var pieces = new List<Piece>();
        var text = new StringBuilder();
        void Flush() { if (text.Length > 0) { pieces.Add(new Piece(PieceKind.Literal, text.ToString())); text.Clear(); } }
        for (int i = 0; i < input.Length; i++)
        {
            char c = input[i];
            if (c == '\\')
            {
                if (i + 1 < input.Length) text.Append(input[++i]); else text.Append(c);
                continue;
            }
            if ((c == '%' || c == '$') && i + 1 < input.Length)
            {
                char n = input[i + 1];
                if (n == '{')
                {
                    int end = ClosingCurly(input, i + 2);
                    if (end < 0) { text.Append(c).Append('{'); i++; continue; }
                    string inner = input[(i + 2)..end];
                    if (c == '%') { Flush(); pieces.Add(new Piece(PieceKind.Variable, inner)); }
                    // ${map:key|default}: RewriteMap is server-only and not provided, so a lookup yields its default
                    else
                    {
                        int colon = inner.IndexOf(':');
                        if (colon < 0) { text.Append("${"); i++; continue; }
                        int bar = inner.IndexOf('|', colon);
                        if (bar > 0) { Flush(); pieces.Add(new Piece(PieceKind.MapDefault, inner[(bar + 1)..])); }
                    }
                    i = end;
                    continue;
                }
                if (char.IsAsciiDigit(n))
                {
                    Flush();
                    pieces.Add(new Piece(c == '$' ? PieceKind.RuleGroup : PieceKind.CondGroup, "", n - '0'));
                    i++;
                    continue;
                }
            }
            text.Append(c);
        }
        Flush();
        if (pieces.Count == 0) return new Template("", null);
        if (pieces.Count == 1 && pieces[0].Kind == PieceKind.Literal) return new Template(pieces[0].Text, null);
        return new Template(null, pieces.ToArray());
    }

    private static int ClosingCurly(string s, int from)
    {
        int depth = 1;
        for (int i = from; i < s.Length; i++)
        {
            if (s[i] == '}' && --depth == 0) return i;
            if (s[i] == '{') depth++;
        }
        return -1;
    }

    /// <summary>[B]: escapes a back-reference as PHP's urlencode would (letters, digits and '_' stay; ' ' becomes '+').</summary>
    public static string EscapeBackref(string value, string? escapeMe, bool noPlus)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (byte b in bytes)
        {
            char ch = (char)b;
            bool escape = escapeMe is null ? !(char.IsAsciiLetterOrDigit(ch) || ch == '_') : b < 128 && escapeMe.Contains(ch);
            if (!escape) { sb.Append(ch); continue; }
            if (ch == ' ' && !noPlus) sb.Append('+');
            else sb.Append('%').Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }
        // the result is bytes; any non-ASCII stayed as UTF-8 bytes, give them back as text
        return escapeMe is null ? sb.ToString() : Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(sb.ToString()));
    }

    private static void SetEnv(string spec, RequestRec r)
    {
        if (spec.StartsWith('!')) { r.Env.Unset(spec[1..]); return; }
        int colon = spec.IndexOf(':');
        if (colon < 0) r.Env.Set(spec, "");
        else r.Env.Set(spec[..colon], spec[(colon + 1)..]);
    }

    private static void AddCookie(string spec, RequestRec r)
    {
        string sep = ":";
        if (spec.StartsWith(';')) { sep = ";"; spec = spec[1..]; }
        var parts = spec.Split(sep);
        if (parts.Length < 3) return;
        var main = r;
        while (main.Main is not null) main = main.Main;
        string note = parts[0] + "_rewrite";
        if (main.Notes.Contains(note)) return;
        var sb = new StringBuilder($"{parts[0]}={parts[1]}; path={(parts.Length > 4 && parts[4].Length > 0 ? parts[4] : "/")}; domain={parts[2]}");
        if (parts.Length > 3 && long.TryParse(parts[3], out long minutes) && minutes != 0)
            sb.Append("; expires=").Append(DateTime.UtcNow.AddMinutes(minutes).ToString("ddd, dd-MMM-yyyy HH:mm:ss 'GMT'", CultureInfo.InvariantCulture));
        bool Truthy(int i, string word) => parts.Length > i && (parts[i].Equals("true", StringComparison.OrdinalIgnoreCase) || parts[i] == "1" || parts[i].Equals(word, StringComparison.OrdinalIgnoreCase));
        if (Truthy(5, "secure")) sb.Append("; secure");
        if (Truthy(6, "HttpOnly")) sb.Append("; HttpOnly");
        if (parts.Length > 7 && parts[7] != "0" && !parts[7].Equals("false", StringComparison.OrdinalIgnoreCase)) sb.Append("; SameSite=").Append(parts[7]);
        main.ErrHeadersOut.Add("Set-Cookie", sb.ToString());
        main.Notes.Set(note, "set");
    }

    /// <summary>splitout_queryargs.</summary>
    private static void SplitQuery(RequestRec r, bool append, bool discard, bool last)
    {
        string f = r.Filename!;
        int split = AbsoluteUriSchemeLength(f, out bool noQuery);
        if (split > 0 && noQuery) { r.Args = null; return; }
        if (discard) r.Args = null;
        int q = last ? f.LastIndexOf('?') : f.IndexOf('?');
        if (q < 0) return;
        string rest = f[(q + 1)..];
        r.Filename = f[..q];
        if (append) { if (rest.Length > 0) r.Args = r.Args is null ? rest + "&" : rest + "&" + r.Args; }
        else r.Args = rest;
        if (r.Args is not null)
        {
            if (r.Args.Length == 0) r.Args = null;
            else if (r.Args[^1] == '&') r.Args = r.Args[..^1];
            if (r.Args is { Length: 0 }) r.Args = null;
        }
    }

    /// <summary>is_absolute_uri: the length of "scheme://" (or "mailto:" …) at the start, 0 when the string is not an absolute URI.</summary>
    public static int AbsoluteUriSchemeLength(string uri) => AbsoluteUriSchemeLength(uri, out _);

    private static readonly (string Scheme, bool Slashes, bool NoQuery)[] Schemes =
    [
        ("ajp", true, false), ("balancer", true, false), ("fcgi", true, false), ("ftp", true, false), ("gopher", true, false),
        ("http", true, false), ("https", true, false), ("h2c", true, false), ("h2", true, false), ("ldap", true, false),
        ("mailto", false, true), ("news", false, true), ("nntp", true, false), ("scgi", true, false), ("unix", false, false),
        ("ws", true, false), ("wss", true, false), ("uwsgi", true, false),
    ];

    private static int AbsoluteUriSchemeLength(string uri, out bool noQuery)
    {
        noQuery = false;
        foreach (var (scheme, slashes, nq) in Schemes)
        {
            string prefix = scheme + (slashes ? "://" : ":");
            if (uri.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) { noQuery = nq; return prefix.Length; }
        }
        return 0;
    }

    /// <summary>fully_qualify_uri: a local path becomes http[s]://server[:port]/path.</summary>
    private static void FullyQualify(RequestRec r)
    {
        if (AbsoluteUriSchemeLength(r.Filename!) > 0) return;
        r.Filename = r.X.SelfUrl() + (r.Filename!.StartsWith('/') ? "" : "/") + r.Filename;
    }

    /// <summary>reduce_uri: http[s]://this-server[:port]/path becomes /path, so it is served here, not redirected.</summary>
    private static void ReduceUri(RequestRec r)
    {
        string f = r.Filename!;
        string scheme = r.X.Scheme + "://";
        if (f.Length <= scheme.Length || !f.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return;
        int hostStart = scheme.Length, i = hostStart;
        while (i < f.Length && f[i] != '/' && f[i] != ':') i++;
        string hostName = f[hostStart..i];
        int port = r.X.IsHttps ? 443 : 80;
        string url;
        if (i < f.Length && f[i] == ':')
        {
            int ps = ++i;
            while (i < f.Length && f[i] != '/') i++;
            int.TryParse(f.AsSpan(ps, i - ps), out port);
            url = i < f.Length ? f[i..] : "/";
        }
        else url = i < f.Length ? f[i..] : "/";
        bool ours = port == r.X.HostPort && (hostName.Equals(r.X.ServerName, StringComparison.OrdinalIgnoreCase)
            || r.X.Vhost.Aliases.Any(a => RequestPolicyWildcard(a, hostName)));
        if (!ours) return;
        r.Filename = url;
        r.Notes.Set("mod_rewrite_uri_reduced", "true");
    }

    private static bool RequestPolicyWildcard(string pattern, string host) =>
        pattern.IndexOfAny(['*', '?']) < 0 ? pattern.Equals(host, StringComparison.OrdinalIgnoreCase) : Expr.Fnmatch(pattern, host, false);
}
