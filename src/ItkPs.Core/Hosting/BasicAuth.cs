using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using ItkPs.Core.Config;

namespace ItkPs.Core.Hosting;

/// <summary>The outcome of the access check for one request.</summary>
public readonly record struct AccessDecision(int Status, string? User, string? Reason)
{
    public bool Granted => Status == 0;
    public static AccessDecision Allow(string? user = null) => new(0, user, null);
}

/// <summary>
/// mod_authz_core + mod_auth_basic + mod_authn_file for the settings of a <see cref="RequestPolicy"/>:
/// Require all granted|denied, valid-user and user …, with users from an AuthUserFile that the
/// caller (the worker, as the vhost's user) reads with its own permissions.
/// </summary>
public sealed class BasicAuth
{
    private readonly ConcurrentDictionary<string, (DateTime Mtime, long Size, Dictionary<string, string> Users)> _files = new();

    /// <summary>Decides with the Authorization header's value (null when absent), on the calling thread.</summary>
    public AccessDecision Check(RequestPolicy policy, string? authorization) =>
        CheckAsync(policy, authorization, offload: false).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Decides with the Authorization header's value (null when absent). With
    /// <paramref name="offload"/>, a bcrypt comparison (milliseconds by design) runs on the thread
    /// pool, not on the caller's thread, which in a worker is the one serving its other connections.
    /// </summary>
    public async ValueTask<AccessDecision> CheckAsync(RequestPolicy policy, string? authorization, bool offload = true)
    {
        if (policy.Requires.Count == 0) return AccessDecision.Allow(); // no authorization configured: Apache grants
        bool needsUser = false;
        foreach (var r in policy.Requires)
        {
            var a = r.Args;
            if (a.Count == 2 && a[0].Equals("all", StringComparison.OrdinalIgnoreCase) && a[1].Equals("granted", StringComparison.OrdinalIgnoreCase))
                return AccessDecision.Allow();
            if (a.Count >= 1 && (a[0].Equals("valid-user", StringComparison.OrdinalIgnoreCase) || a[0].Equals("user", StringComparison.OrdinalIgnoreCase)))
                needsUser = true;
        }
        if (!needsUser) return new(403, null, "denied by Require");
        if (!string.Equals(policy.AuthType, "Basic", StringComparison.OrdinalIgnoreCase))
            return new(500, null, policy.AuthType is null ? "Require needs a user, but AuthType is not set" : $"AuthType {policy.AuthType} is not supported (only Basic)");
        if (policy.AuthUserFile is null) return new(500, null, "AuthType Basic without AuthUserFile");

        if (!TryParseBasic(authorization, out var user, out var password)) return new(401, null, "no credentials");
        Dictionary<string, string> users;
        try { users = Load(policy.AuthUserFile); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(500, null, $"cannot read AuthUserFile '{policy.AuthUserFile}': {e.Message}");
        }
        if (!users.TryGetValue(user, out var hash)) return new(401, null, $"user '{user}' not found");
        bool match = offload && Htpasswd.IsSlow(hash) ? await Task.Run(() => Htpasswd.Verify(password, hash)) : Htpasswd.Verify(password, hash);
        if (!match) return new(401, null, $"user '{user}': password mismatch");
        foreach (var r in policy.Requires)
        {
            var a = r.Args;
            if (a[0].Equals("valid-user", StringComparison.OrdinalIgnoreCase)) return AccessDecision.Allow(user);
            if (a[0].Equals("user", StringComparison.OrdinalIgnoreCase) && a.Skip(1).Contains(user, StringComparer.Ordinal)) return AccessDecision.Allow(user);
        }
        return new(401, user, $"user '{user}' is not allowed by Require");
    }

    /// <summary>
    /// mod_auth_basic's check_user_id with mod_authn_file: the credentials of the Authorization
    /// header against an AuthUserFile read with the caller's permissions. Status 0 with the user
    /// when they match, 401 when absent or wrong, 500 when the file cannot be read.
    /// </summary>
    public async ValueTask<(int Status, string? User, string Reason)> AuthenticateAsync(string? authorization, string userFile, bool offload = true)
    {
        if (!TryParseBasic(authorization, out var user, out var password)) return (401, null, "no credentials");
        Dictionary<string, string> users;
        try { users = Load(userFile); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (500, null, $"cannot read AuthUserFile '{userFile}': {e.Message}");
        }
        if (!users.TryGetValue(user, out var hash)) return (401, null, $"user {user} not found");
        bool match = offload && Htpasswd.IsSlow(hash) ? await Task.Run(() => Htpasswd.Verify(password, hash)) : Htpasswd.Verify(password, hash);
        return match ? (0, user, "") : (401, null, $"user {user}: authentication failure: Password Mismatch");
    }

    private readonly ConcurrentDictionary<string, (DateTime Mtime, long Size, Dictionary<string, HashSet<string>> Groups)> _groupFiles = new();

    /// <summary>The groups a user is in, from an AuthGroupFile ("group: user user…" lines), re-read when it changes.</summary>
    public IReadOnlyCollection<string> GroupsOf(string user, string groupFile)
    {
        var info = new FileInfo(groupFile);
        if (!info.Exists) throw new FileNotFoundException("no such file", groupFile);
        if (!_groupFiles.TryGetValue(groupFile, out var cached) || cached.Mtime != info.LastWriteTimeUtc || cached.Size != info.Length)
        {
            var groups = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var raw in File.ReadAllLines(groupFile))
            {
                int colon = raw.IndexOf(':');
                if (raw.StartsWith('#') || colon <= 0) continue;
                foreach (var u in raw[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!groups.TryGetValue(u, out var set)) groups[u] = set = new HashSet<string>(StringComparer.Ordinal);
                    set.Add(raw[..colon].Trim());
                }
            }
            _groupFiles[groupFile] = cached = (info.LastWriteTimeUtc, info.Length, groups);
        }
        return cached.Groups.TryGetValue(user, out var mine) ? mine : [];
    }

    /// <summary>The users of an htpasswd file, re-read when its size or mtime changes.</summary>
    private Dictionary<string, string> Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException("no such file", path);
        if (_files.TryGetValue(path, out var cached) && cached.Mtime == info.LastWriteTimeUtc && cached.Size == info.Length) return cached.Users;
        var users = Htpasswd.Parse(File.ReadAllText(path));
        _files[path] = (info.LastWriteTimeUtc, info.Length, users);
        return users;
    }

    public static bool TryParseBasic(string? header, out string user, out string password)
    {
        user = password = "";
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        byte[] raw;
        try { raw = Convert.FromBase64String(header[6..].Trim()); }
        catch (FormatException) { return false; }
        string text = Encoding.UTF8.GetString(raw);
        int colon = text.IndexOf(':');
        if (colon < 0) return false;
        user = text[..colon]; password = text[(colon + 1)..];
        return true;
    }

    public static string Challenge(RequestPolicy policy) => $"Basic realm=\"{(policy.AuthName ?? "").Replace("\"", "\\\"")}\"";
}

/// <summary>
/// The password formats the htpasswd tool writes: bcrypt ($2y$, -B), APR1-MD5 ($apr1$, -m, its
/// default) and SHA-1 ({SHA}, -s). Every comparison is in constant time.
/// </summary>
public static class Htpasswd
{
    public static Dictionary<string, string> Parse(string text)
    {
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            users.TryAdd(line[..colon], line[(colon + 1)..]);
        }
        return users;
    }

    /// <summary>bcrypt: slow on purpose.</summary>
    public static bool IsSlow(string hash) => hash.StartsWith("$2", StringComparison.Ordinal);

    public static bool Verify(string password, string hash)
    {
        if (hash.StartsWith("$2y$", StringComparison.Ordinal) || hash.StartsWith("$2a$", StringComparison.Ordinal) || hash.StartsWith("$2b$", StringComparison.Ordinal))
        {
            // BCrypt.Net compares its result in constant time.
            try { return BCrypt.Net.BCrypt.Verify(password, hash); }
            catch (BCrypt.Net.SaltParseException) { return false; }
        }
        if (hash.StartsWith("$apr1$", StringComparison.Ordinal))
        {
            int end = hash.IndexOf('$', 6);
            if (end < 0) return false;
            return FixedEquals(Apr1.Hash(password, hash[6..end]), hash);
        }
        if (hash.StartsWith("{SHA}", StringComparison.Ordinal))
            return FixedEquals("{SHA}" + Convert.ToBase64String(SHA1.HashData(Encoding.UTF8.GetBytes(password))), hash);
        return false; // crypt(3), plain text or unknown: not accepted (Apache on Linux would try crypt)
    }

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}

/// <summary>
/// APR1-MD5, Apache's variant of the FreeBSD MD5 crypt (apr_md5_encode). Hand-written because no
/// maintained .NET package implements it; it is small, fixed, and checked against the real
/// htpasswd output in the tests.
/// </summary>
public static class Apr1
{
    private const string Itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string Hash(string password, string salt)
    {
        if (salt.Length > 8) salt = salt[..8];
        byte[] pw = Encoding.UTF8.GetBytes(password), sl = Encoding.UTF8.GetBytes(salt), magic = "$apr1$"u8.ToArray();
        byte[] alt = MD5.HashData([.. pw, .. sl, .. pw]);
        var ctx = new List<byte>(pw.Length * 2 + 64);
        ctx.AddRange(pw); ctx.AddRange(magic); ctx.AddRange(sl);
        for (int n = pw.Length; n > 0; n -= 16) ctx.AddRange(alt.AsSpan(0, Math.Min(16, n)).ToArray());
        for (int i = pw.Length; i != 0; i >>= 1) ctx.Add((i & 1) != 0 ? (byte)0 : pw.Length > 0 ? pw[0] : (byte)0);
        byte[] final = MD5.HashData(ctx.ToArray());
        for (int i = 0; i < 1000; i++)
        {
            var step = new List<byte>(64);
            if ((i & 1) != 0) step.AddRange(pw); else step.AddRange(final);
            if (i % 3 != 0) step.AddRange(sl);
            if (i % 7 != 0) step.AddRange(pw);
            if ((i & 1) != 0) step.AddRange(final); else step.AddRange(pw);
            final = MD5.HashData(step.ToArray());
        }
        var sb = new StringBuilder("$apr1$").Append(salt).Append('$');
        void To64(int v, int n) { for (; n > 0; n--, v >>= 6) sb.Append(Itoa64[v & 0x3f]); }
        To64((final[0] << 16) | (final[6] << 8) | final[12], 4);
        To64((final[1] << 16) | (final[7] << 8) | final[13], 4);
        To64((final[2] << 16) | (final[8] << 8) | final[14], 4);
        To64((final[3] << 16) | (final[9] << 8) | final[15], 4);
        To64((final[4] << 16) | (final[10] << 8) | final[5], 4);
        To64(final[11], 2);
        return sb.ToString();
    }
}
