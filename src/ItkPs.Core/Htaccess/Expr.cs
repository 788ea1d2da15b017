using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Htaccess;

/// <summary>What an expression reads from the request it is evaluated for.</summary>
public interface IExprContext
{
    /// <summary>A %{NAME} variable (HTTP_HOST, REQUEST_URI, …); "" when unknown.</summary>
    string Variable(string name);
    /// <summary>A function: req/http, resp, env/reqenv, osenv, note, tolower, toupper, escape, unescape, base64, md5…</summary>
    string? Function(string name, string arg);
    /// <summary>A file test: d, e, f, s, L/h, x on a path; U/A/F as a lookup.</summary>
    bool FileTest(char op, string path);
    /// <summary>The client address, for -R and -ipmatch.</summary>
    IPAddress? RemoteIp { get; }
}

/// <summary>
/// Apache's ap_expr, the language of &lt;If&gt;, Require expr, Header … expr=, SetEnvIfExpr and
/// RewriteCond expr: boolean operators, string and integer comparisons, regular-expression
/// matches (=~ /re/ with $0..$9 captured for later use), "in {…}", the unary tests (-f -d -e -s
/// -L -n -z -T -R -ipmatch…), %{VAR} and %{func:arg}, functions and string concatenation with
/// ".". Hand-written: .NET has no parser for it; the grammar is small and fixed.
/// </summary>
public sealed class Expr
{
    private readonly Node _root;
    public string Source { get; }

    private Expr(Node root, string source) { _root = root; Source = source; }

    /// <summary>Parses an expression; throws <see cref="FormatException"/> with what was expected where.</summary>
    public static Expr Parse(string text)
    {
        var p = new Parser(text);
        var node = p.ParseExpr();
        p.SkipWs();
        if (!p.End) throw new FormatException($"syntax error at '{p.Rest}' in expression \"{text}\"");
        return new Expr(node, text);
    }

    /// <summary>Parses a string expression (Header values, SetHandler with %{…}): text with %{VAR} interpolation.</summary>
    public static Expr ParseString(string text) => new(new Node.Str(Parser.ParseInterpolated(text)), text);

    /// <summary>Evaluates as a condition; <paramref name="captures"/> receives the groups of the last regex that matched.</summary>
    public bool Evaluate(IExprContext ctx, List<string>? captures = null)
    {
        var state = new State(ctx, captures ?? new List<string>());
        return _root.Test(state);
    }

    /// <summary>Evaluates as a string (for ParseString).</summary>
    public string EvaluateString(IExprContext ctx) => _root.Value(new State(ctx, new List<string>()));

    private sealed class State(IExprContext ctx, List<string> captures)
    {
        public IExprContext Ctx { get; } = ctx;
        public List<string> Captures { get; } = captures;
    }

    // ---- tree ----

    private abstract class Node
    {
        public virtual bool Test(State s) => throw new FormatException("a string is not a condition");
        public virtual string Value(State s) => throw new FormatException("a condition is not a string");

        public sealed class Bool(bool v) : Node { public override bool Test(State s) => v; }
        public sealed class Not(Node n) : Node { public override bool Test(State s) => !n.Test(s); }
        public sealed class And(Node a, Node b) : Node { public override bool Test(State s) => a.Test(s) && b.Test(s); }
        public sealed class Or(Node a, Node b) : Node { public override bool Test(State s) => a.Test(s) || b.Test(s); }

        /// <summary>A string made of literal parts and %{…} lookups.</summary>
        public sealed class Str(List<Part> parts) : Node
        {
            public override string Value(State s)
            {
                if (parts.Count == 1 && parts[0].Literal is { } only) return only;
                var sb = new StringBuilder();
                foreach (var p in parts) sb.Append(p.Eval(s));
                return sb.ToString();
            }
        }

        public sealed class Concat(Node a, Node b) : Node { public override string Value(State s) => a.Value(s) + b.Value(s); }

        public sealed class BackRef(int n) : Node
        {
            public override string Value(State s) => n < s.Captures.Count ? s.Captures[n] : "";
        }

        public sealed class Func(string name, Node arg) : Node
        {
            public override string Value(State s) => s.Ctx.Function(name, arg.Value(s)) ?? "";
        }

        public sealed class Compare(Node a, string op, Node b) : Node
        {
            public override bool Test(State s)
            {
                string x = a.Value(s), y = b.Value(s);
                switch (op)
                {
                    case "==": case "=": return x == y;
                    case "!=": return x != y;
                    case "<": return string.CompareOrdinal(x, y) < 0;
                    case "<=": return string.CompareOrdinal(x, y) <= 0;
                    case ">": return string.CompareOrdinal(x, y) > 0;
                    case ">=": return string.CompareOrdinal(x, y) >= 0;
                    case "-strmatch": return Fnmatch(y, x, false);
                    case "-strcmatch": return Fnmatch(y, x, true);
                    case "-fnmatch": return Fnmatch(y, x, false, pathname: true);
                    case "-ipmatch": return IpMatch(x, y);
                }
                long ix = Int(x), iy = Int(y);
                return op switch
                {
                    "-eq" => ix == iy, "-ne" => ix != iy, "-lt" => ix < iy, "-le" => ix <= iy, "-gt" => ix > iy, "-ge" => ix >= iy,
                    _ => throw new FormatException($"unknown operator {op}"),
                };
            }

            private static long Int(string v) => long.TryParse(v.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) ? n : 0;
        }

        public sealed class RegexMatch(Node a, Regex rx, bool negate) : Node
        {
            public override bool Test(State s)
            {
                var m = PcreRegex.Match(rx, a.Value(s));
                if (m is null) return negate;
                if (!negate)
                {
                    s.Captures.Clear();
                    for (int i = 0; i < m.Groups.Count && i < 10; i++) s.Captures.Add(m.Groups[i].Success ? m.Groups[i].Value : "");
                }
                return !negate;
            }
        }

        public sealed class In(Node a, List<Node> list) : Node
        {
            public override bool Test(State s)
            {
                string v = a.Value(s);
                foreach (var n in list) if (n.Value(s) == v) return true;
                return false;
            }
        }

        public sealed class Unary(char op, Node a) : Node
        {
            public override bool Test(State s)
            {
                string v = a.Value(s);
                switch (op)
                {
                    case 'n': return v.Length > 0;
                    case 'z': return v.Length == 0;
                    case 'T':
                        return !(v.Length == 0 || v == "0" || v.Equals("off", StringComparison.OrdinalIgnoreCase)
                            || v.Equals("false", StringComparison.OrdinalIgnoreCase) || v.Equals("no", StringComparison.OrdinalIgnoreCase));
                    case 'R': return s.Ctx.RemoteIp is { } ip && IpMatch(ip.ToString(), v);
                    default: return s.Ctx.FileTest(op, v);
                }
            }
        }
    }

    /// <summary>One piece of a string: literal text, a %{VAR}, or %{func:arg}.</summary>
    private sealed record Part(string? Literal, string? Var, string? FuncName, string? FuncArg)
    {
        public string Eval(State s)
        {
            if (Literal is not null) return Literal;
            if (FuncName is not null) return s.Ctx.Function(FuncName, FuncArg!) ?? "";
            return s.Ctx.Variable(Var!);
        }
    }

    // ---- helpers shared with other modules ----

    /// <summary>Whether an address is in a subnet given as "10.0.0.0/8", "192.168.1", "::1/128" or a single address.</summary>
    public static bool IpMatch(string address, string subnet)
    {
        if (!IPAddress.TryParse(address, out var ip)) return false;
        return Subnet.TryParse(subnet, out var net) && net!.Contains(ip);
    }

    /// <summary>fnmatch(3): '*', '?', '[…]'; with <paramref name="pathname"/> a '*' does not cross '/'.</summary>
    public static bool Fnmatch(string pattern, string text, bool caseSensitive, bool pathname = false)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            switch (c)
            {
                case '*': sb.Append(pathname ? "[^/]*" : ".*"); break;
                case '?': sb.Append(pathname ? "[^/]" : "."); break;
                case '[':
                    int close = pattern.IndexOf(']', i + 1);
                    if (close < 0) { sb.Append(@"\["); break; }
                    string set = pattern[(i + 1)..close];
                    if (set.StartsWith('!')) set = "^" + set[1..];
                    sb.Append('[').Append(set.Replace(@"\", @"\\")).Append(']');
                    i = close;
                    break;
                case '\\' when i + 1 < pattern.Length: sb.Append(Regex.Escape(pattern[++i].ToString())); break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append('$');
        return Regex.IsMatch(text, sb.ToString(), (caseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase) | RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }

    // ---- parser ----

    private sealed class Parser(string text)
    {
        private int _i;
        public bool End => _i >= text.Length;
        public string Rest => text[_i..];

        public void SkipWs() { while (_i < text.Length && char.IsWhiteSpace(text[_i])) _i++; }

        private bool Eat(string s)
        {
            SkipWs();
            if (string.CompareOrdinal(text, _i, s, 0, s.Length) != 0) return false;
            // word operators must not run into a following letter ("-d" vs "-deny")
            if (char.IsLetter(s[^1]) && _i + s.Length < text.Length && char.IsLetterOrDigit(text[_i + s.Length])) return false;
            _i += s.Length;
            return true;
        }

        private FormatException Error(string expected) => new($"expected {expected} at '{(End ? "end of expression" : Rest)}' in expression \"{text}\"");

        public Node ParseExpr()
        {
            var left = ParseAnd();
            while (Eat("||")) left = new Node.Or(left, ParseAnd());
            return left;
        }

        private Node ParseAnd()
        {
            var left = ParseUnary();
            while (Eat("&&")) left = new Node.And(left, ParseUnary());
            return left;
        }

        private Node ParseUnary()
        {
            SkipWs();
            if (Eat("!")) return new Node.Not(ParseUnary());
            if (Peek('('))
            {
                // a parenthesised condition; a parenthesised word is not part of the grammar
                _i++;
                var inner = ParseExpr();
                if (!Eat(")")) throw Error("')'");
                return inner;
            }
            if (Eat("true")) return new Node.Bool(true);
            if (Eat("false")) return new Node.Bool(false);
            SkipWs();
            if (_i + 1 < text.Length && text[_i] == '-' && char.IsLetter(text[_i + 1]) && (_i + 2 >= text.Length || !char.IsLetter(text[_i + 2])))
            {
                char op = text[_i + 1];
                _i += 2;
                if ("defsLhxnzTRUAF".IndexOf(op) < 0) throw Error($"a known test, not -{op}");
                return new Node.Unary(op, ParseWord());
            }
            var a = ParseWord();
            SkipWs();
            foreach (var op in new[] { "==", "!=", "<=", ">=", "=~", "!~", "<", ">", "=" })
            {
                if (!Eat(op)) continue;
                if (op is "=~" or "!~")
                {
                    var rx = ParseRegex();
                    return new Node.RegexMatch(a, rx, op == "!~");
                }
                return new Node.Compare(a, op, ParseWord());
            }
            foreach (var op in new[] { "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-ipmatch", "-strmatch", "-strcmatch", "-fnmatch" })
                if (Eat(op)) return new Node.Compare(a, op, ParseWord());
            if (Eat("in"))
            {
                if (!Eat("{")) throw Error("'{' after 'in'");
                var list = new List<Node> { ParseWord() };
                while (Eat(",")) list.Add(ParseWord());
                if (!Eat("}")) throw Error("'}'");
                return new Node.In(a, list);
            }
            throw Error("a comparison operator");
        }

        private bool Peek(char c) { SkipWs(); return _i < text.Length && text[_i] == c; }

        private Regex ParseRegex()
        {
            SkipWs();
            if (End) throw Error("a regular expression");
            char sep = text[_i];
            if (sep == 'm' && _i + 1 < text.Length && !char.IsLetterOrDigit(text[_i + 1])) { _i++; sep = text[_i]; }
            else if (sep != '/') throw Error("a regular expression (/…/ or m#…#)");
            _i++;
            var sb = new StringBuilder();
            while (_i < text.Length && text[_i] != sep)
            {
                if (text[_i] == '\\' && _i + 1 < text.Length && text[_i + 1] == sep) { sb.Append(sep); _i += 2; continue; }
                sb.Append(text[_i++]);
            }
            if (End) throw Error($"the closing '{sep}' of the regular expression");
            _i++;
            bool icase = false;
            while (_i < text.Length && char.IsLetter(text[_i])) { if (text[_i] == 'i') icase = true; _i++; }
            try { return PcreRegex.Get(sb.ToString(), icase); }
            catch (ArgumentException e) { throw new FormatException($"bad regular expression /{sb}/: {e.Message}"); }
        }

        private Node ParseWord()
        {
            var w = ParseWordAtom();
            while (true)
            {
                SkipWs();
                if (_i < text.Length && text[_i] == '.' && (_i + 1 >= text.Length || text[_i + 1] != '.'))
                {
                    _i++;
                    w = new Node.Concat(w, ParseWordAtom());
                    continue;
                }
                return w;
            }
        }

        private Node ParseWordAtom()
        {
            SkipWs();
            if (End) throw Error("a word");
            char c = text[_i];
            if (c is '\'' or '"')
            {
                _i++;
                var raw = new StringBuilder();
                while (_i < text.Length && text[_i] != c)
                {
                    if (text[_i] == '\\' && _i + 1 < text.Length) { raw.Append(text[_i + 1] == c ? c.ToString() : text.Substring(_i, 2)); _i += 2; continue; }
                    raw.Append(text[_i++]);
                }
                if (End) throw Error($"the closing {c}");
                _i++;
                return new Node.Str(ParseInterpolated(raw.ToString()));
            }
            if (c == '%' && _i + 1 < text.Length && text[_i + 1] == '{')
            {
                int close = text.IndexOf('}', _i);
                if (close < 0) throw Error("'}'");
                string inner = text[(_i + 2)..close];
                _i = close + 1;
                return new Node.Str([VarPart(inner)]);
            }
            if (c == '$' && _i + 1 < text.Length && char.IsDigit(text[_i + 1]))
            {
                _i += 2;
                return new Node.BackRef(text[_i - 1] - '0');
            }
            if (char.IsDigit(c) || c == '-')
            {
                int start = _i;
                if (c == '-') _i++;
                while (_i < text.Length && char.IsDigit(text[_i])) _i++;
                if (_i > start + (c == '-' ? 1 : 0)) return new Node.Str([new Part(text[start.._i], null, null, null)]);
                _i = start;
            }
            if (char.IsLetter(c))
            {
                int start = _i;
                while (_i < text.Length && (char.IsLetterOrDigit(text[_i]) || text[_i] == '_')) _i++;
                string name = text[start.._i];
                SkipWs();
                if (_i < text.Length && text[_i] == '(')
                {
                    _i++;
                    var arg = ParseWord();
                    if (!Eat(")")) throw Error("')' after the function argument");
                    return new Node.Func(name.ToLowerInvariant(), arg);
                }
                _i = start;
            }
            throw Error("a word (a quoted string, %{VAR}, a number or a function call)");
        }

        private static Part VarPart(string inner)
        {
            int colon = inner.IndexOf(':');
            return colon > 0 ? new Part(null, null, inner[..colon].ToLowerInvariant(), inner[(colon + 1)..]) : new Part(null, inner, null, null);
        }

        /// <summary>Splits "text %{VAR} more %{req:Host}" into parts.</summary>
        public static List<Part> ParseInterpolated(string s)
        {
            var parts = new List<Part>();
            var lit = new StringBuilder();
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] == '%' && i + 1 < s.Length && s[i + 1] == '{')
                {
                    int close = s.IndexOf('}', i);
                    if (close > 0)
                    {
                        if (lit.Length > 0) { parts.Add(new Part(lit.ToString(), null, null, null)); lit.Clear(); }
                        parts.Add(VarPart(s[(i + 2)..close]));
                        i = close;
                        continue;
                    }
                }
                lit.Append(s[i]);
            }
            if (lit.Length > 0 || parts.Count == 0) parts.Add(new Part(lit.ToString(), null, null, null));
            return parts;
        }
    }
}

/// <summary>An address range as mod_authz_host and mod_access_compat take it: a full address, a CIDR, an address/netmask, or a partial IPv4 address.</summary>
public sealed class Subnet
{
    private readonly byte[] _net;
    private readonly int _bits;

    private Subnet(byte[] net, int bits) { _net = net; _bits = bits; }

    public static bool TryParse(string text, out Subnet? subnet)
    {
        subnet = null;
        text = text.Trim();
        if (text.Length == 0) return false;
        int slash = text.IndexOf('/');
        string addr = slash < 0 ? text : text[..slash];
        int bits;
        if (slash < 0 && !addr.Contains(':') && addr.Count(c => c == '.') < 3 && addr.All(c => char.IsDigit(c) || c == '.'))
        {
            // partial IPv4 ("10.1", "192.168.1."): the given octets
            var octets = addr.TrimEnd('.').Split('.');
            if (octets.Any(o => o.Length == 0 || !byte.TryParse(o, out _))) return false;
            var b = new byte[4];
            for (int i = 0; i < octets.Length; i++) b[i] = byte.Parse(octets[i], CultureInfo.InvariantCulture);
            subnet = new Subnet(b, octets.Length * 8);
            return true;
        }
        if (!IPAddress.TryParse(addr, out var ip)) return false;
        var bytes = ip.GetAddressBytes();
        if (slash < 0) bits = bytes.Length * 8;
        else
        {
            string mask = text[(slash + 1)..];
            if (int.TryParse(mask, out bits)) { if (bits < 0 || bits > bytes.Length * 8) return false; }
            else if (IPAddress.TryParse(mask, out var m) && m.AddressFamily == ip.AddressFamily)
            {
                bits = 0;
                foreach (var mb in m.GetAddressBytes()) for (int k = 7; k >= 0; k--) if ((mb >> k & 1) == 1) bits++;
            }
            else return false;
        }
        subnet = new Subnet(bytes, bits);
        return true;
    }

    public bool Contains(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6 && _net.Length == 4) ip = ip.MapToIPv4();
        var b = ip.GetAddressBytes();
        if (b.Length != _net.Length) return false;
        int full = _bits / 8, rest = _bits % 8;
        for (int i = 0; i < full; i++) if (b[i] != _net[i]) return false;
        if (rest == 0) return true;
        int mask = 0xff << (8 - rest) & 0xff;
        return (b[full] & mask) == (_net[full] & mask);
    }
}
