using System.Net;

namespace ItkPs.Core.Htaccess;

/// <summary>The result of one authorization provider or container (mod_authz_core's authz_status).</summary>
public enum AuthzResult { Denied, Granted, Neutral, DeniedNoUser, Error }

/// <summary>What an authorization check may ask of the request.</summary>
public interface IAuthzRequest
{
    string Method { get; }
    string? User { get; }
    IPAddress? RemoteIp { get; }
    IPAddress? LocalIp { get; }
    string? Env(string name);
    /// <summary>The groups of the authenticated user from AuthGroupFile (empty when none).</summary>
    IReadOnlyCollection<string> Groups { get; }
    IExprContext ExprContext { get; }
}

/// <summary>
/// A Require line, or a &lt;RequireAll|Any|None&gt; container, as mod_authz_core evaluates them:
/// an "any" container is granted by one granted child, an "all" container denied by one denied
/// child, and denial that an authenticated user could turn around is reported as
/// <see cref="AuthzResult.DeniedNoUser"/> so that the client is asked for credentials. Negation
/// (Require not, &lt;RequireNone&gt;) turns granted into denied and denied into neutral.
/// </summary>
public abstract class AuthzNode
{
    public enum Kind { All, Any }

    /// <summary>The methods the node applies to (a &lt;Limit&gt;); null for every method.</summary>
    public IReadOnlySet<string>? Methods { get; init; }
    public bool LimitExcept { get; init; }

    public abstract AuthzResult Check(IAuthzRequest r);

    /// <summary>
    /// Whether the node applies to a method: its own &lt;Limit&gt;, and for a container that of
    /// some child (Apache ORs the method masks of a container's children into its own).
    /// </summary>
    public virtual bool AppliesTo(string method) => Methods is null || Methods.Contains(method) != LimitExcept;

    public AuthzResult Evaluate(IAuthzRequest r, Kind parent)
    {
        if (!AppliesTo(r.Method)) return parent == Kind.All ? AuthzResult.Granted : AuthzResult.Neutral;
        return Check(r);
    }

    /// <summary>True when some node needs an authenticated user (for Satisfy Any and the 401 challenge).</summary>
    public abstract bool NeedsUser { get; }

    public sealed class Container(Kind op, bool negate, IReadOnlyList<AuthzNode> children, string file, int line) : AuthzNode
    {
        public Kind Op { get; } = op;
        public bool Negate { get; } = negate;
        public IReadOnlyList<AuthzNode> Children { get; } = children;
        public string File { get; } = file;
        public int Line { get; } = line;

        public override bool NeedsUser => Children.Any(c => c.NeedsUser);

        public override bool AppliesTo(string method) => base.AppliesTo(method) && Children.Any(c => c.AppliesTo(method));

        public override AuthzResult Check(IAuthzRequest r)
        {
            var result = AuthzResult.Neutral;
            foreach (var child in Children)
            {
                var c = child.Evaluate(r, Op);
                if (c == AuthzResult.Error) return c;
                if (c == AuthzResult.Neutral) continue;
                if (Op == Kind.All)
                {
                    if (c == AuthzResult.Denied) { result = c; break; }
                    if ((c == AuthzResult.DeniedNoUser && result != AuthzResult.Denied) || result == AuthzResult.Neutral) result = c;
                }
                else
                {
                    if (c == AuthzResult.Granted) { result = c; break; }
                    if ((c == AuthzResult.DeniedNoUser && result == AuthzResult.Denied) || result == AuthzResult.Neutral) result = c;
                }
            }
            return Negate ? NegateResult(result) : result;
        }
    }

    /// <summary>One "Require [not] provider args…".</summary>
    public sealed class Provider(string name, IReadOnlyList<string> args, bool negate, Expr? expr, IReadOnlyList<Subnet>? nets, string file, int line) : AuthzNode
    {
        public string Name { get; } = name;
        public IReadOnlyList<string> Args { get; } = args;
        public bool Negate { get; } = negate;
        public string File { get; } = file;
        public int Line { get; } = line;

        public override bool NeedsUser => !Negate && Name is "valid-user" or "user" or "group" || (expr?.Source.Contains("REMOTE_USER", StringComparison.Ordinal) ?? false);

        public override AuthzResult Check(IAuthzRequest r)
        {
            var result = Name switch
            {
                "all" => Args[0].Equals("granted", StringComparison.OrdinalIgnoreCase) ? AuthzResult.Granted : AuthzResult.Denied,
                "valid-user" => r.User is null ? AuthzResult.DeniedNoUser : AuthzResult.Granted,
                "user" => r.User is null ? AuthzResult.DeniedNoUser : Args.Contains(r.User, StringComparer.Ordinal) ? AuthzResult.Granted : AuthzResult.Denied,
                "group" => r.User is null ? AuthzResult.DeniedNoUser : Args.Any(g => r.Groups.Contains(g)) ? AuthzResult.Granted : AuthzResult.Denied,
                "ip" => r.RemoteIp is { } ip && nets!.Any(n => n.Contains(ip)) ? AuthzResult.Granted : AuthzResult.Denied,
                "local" => r.RemoteIp is { } lip && (IPAddress.IsLoopback(lip) || lip.Equals(r.LocalIp)) ? AuthzResult.Granted : AuthzResult.Denied,
                "env" => Args.Any(a => r.Env(a) is not null) ? AuthzResult.Granted : AuthzResult.Denied,
                "method" => Args.Contains(r.Method, StringComparer.Ordinal) ? AuthzResult.Granted : AuthzResult.Denied,
                "expr" => EvaluateExpr(r),
                // host and forward-dns need a DNS lookup per request; itkd does none, so they never grant
                _ => AuthzResult.Denied,
            };
            return Negate ? NegateResult(result) : result;
        }

        private AuthzResult EvaluateExpr(IAuthzRequest r)
        {
            if (expr!.Evaluate(r.ExprContext)) return AuthzResult.Granted;
            return r.User is null && NeedsUser ? AuthzResult.DeniedNoUser : AuthzResult.Denied;
        }
    }

    private static AuthzResult NegateResult(AuthzResult r) => r switch
    {
        AuthzResult.Granted => AuthzResult.Denied,
        AuthzResult.Denied or AuthzResult.DeniedNoUser => AuthzResult.Neutral,
        _ => r,
    };
}

/// <summary>mod_access_compat's Order / Allow / Deny, evaluated as check_dir_access does.</summary>
public static class AccessCompat
{
    public enum Order { DenyAllow, AllowDeny, MutualFailure }

    /// <summary>One "Allow from …" or "Deny from …" word, with the methods of its &lt;Limit&gt;.</summary>
    public sealed record Entry(bool Allow, bool All, Subnet? Net, string? EnvVar, bool EnvNegated, string? Host, IReadOnlySet<string>? Methods, bool LimitExcept);

    public static bool Allowed(AccessSettings a, IAuthzRequest r)
    {
        bool Find(bool allow)
        {
            foreach (var e in a.Entries)
            {
                if (e.Allow != allow) continue;
                if (e.Methods is not null && e.Methods.Contains(r.Method) == e.LimitExcept) continue;
                if (e.All) return true;
                if (e.EnvVar is not null && (r.Env(e.EnvVar) is not null) != e.EnvNegated) return true;
                if (e.Net is not null && r.RemoteIp is { } ip && e.Net.Contains(ip)) return true;
                // host names need a double reverse lookup; itkd does none, so they never match
            }
            return false;
        }
        return a.Order switch
        {
            Order.AllowDeny => Find(true) && !Find(false),
            Order.DenyAllow => !Find(false) || Find(true),
            _ => Find(true) && !Find(false),
        };
    }
}

/// <summary>The mod_access_compat settings of the most specific section that has any (the module does not merge).</summary>
public sealed class AccessSettings
{
    public AccessCompat.Order Order { get; init; } = AccessCompat.Order.DenyAllow;
    public IReadOnlyList<AccessCompat.Entry> Entries { get; init; } = [];
    public Satisfy Satisfy { get; init; } = Satisfy.NoSpec;
    public static readonly AccessSettings Default = new();
}
