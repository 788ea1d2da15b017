using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Isolation;

/// <summary>
/// The private key of a TLS vhost in the isolation audit (Test-ItkVhost): a key anyone but its
/// owner can read — through the others' bits, or a group someone else is in — or a key owned by
/// another account than the site's or root. Metadata only (stat).
/// </summary>
public static class KeyAudit
{
    public static IEnumerable<IsolationFinding> Audit(VirtualHost vh, IAccountDatabase accounts)
    {
        if (!vh.Tls.Engine || vh.Tls.EffectiveKeyFile is not { } key) yield break;
        string label = vh.Name.Length > 0 ? vh.Name : vh.Listen;
        if (Syscall.stat(key, out var st) != 0) yield break; // missing: Test-ItkConfig says so
        var user = vh.User is null ? null : accounts.FindUser(vh.User);
        uint mode = (uint)st.st_mode & 0xfff;
        string octal = Convert.ToString(mode, 8).PadLeft(4, '0');
        string fix = $"chmod 600 '{key}' (or Set-ItkCertificate -Name {label} to install the pair for the site)";
        if ((mode & 0x4) != 0)
            yield return new IsolationFinding(label, key, IsolationProblem.WorldReadable, true, $"the private key is readable by everyone (mode {octal})", fix);
        else if ((mode & 0x20) != 0)
        {
            var group = accounts.FindGroup(st.st_gid);
            var others = (group?.Members ?? []).Concat(accounts.UsersWithPrimaryGroup(st.st_gid)).Distinct()
                .Where(n => n != user?.Name && accounts.FindUser(n)?.Uid != st.st_uid).ToList();
            if (others.Count > 0)
                yield return new IsolationFinding(label, key, IsolationProblem.GroupReadableByOthers, true,
                    $"the private key is readable by the group {group?.Name ?? st.st_gid.ToString()}, which {string.Join(", ", others.Take(5))} {(others.Count == 1 ? "is" : "are")} in (mode {octal})", fix);
        }
        if (user is not null && st.st_uid != user.Uid && st.st_uid != 0)
            yield return new IsolationFinding(label, key, IsolationProblem.OwnerMismatch, true,
                $"the private key belongs to {accounts.FindUser(st.st_uid)?.Name ?? st.st_uid.ToString()}, not to the site's user {user.Name} or root",
                $"Set-ItkCertificate -Name {label} -CertificateFile … -KeyFile … (installs a copy owned by {user.Name})");
    }
}
