using System.Diagnostics;

namespace ItkPs.Core.Unix;

/// <summary>Creates system accounts with the distribution's own useradd/groupadd (they keep
/// /etc/passwd, shadow and nscd consistent, which hand-written code would not).</summary>
public static class UserProvisioner
{
    public const string NoLoginShell = "/usr/sbin/nologin";

    /// <summary>Creates a group (if missing) and a system user without a login shell or home.</summary>
    public static void CreateSystemUser(string user, string? group, string? home, IAccountDatabase accounts)
    {
        var args = new List<string> { "--system", "--shell", File.Exists(NoLoginShell) ? NoLoginShell : "/bin/false", "--no-create-home" };
        if (home is not null) args.AddRange(["--home-dir", home]);
        if (group is null || group == user)
        {
            if (accounts.FindGroup(user) is not null) args.AddRange(["--gid", user]);
            else args.Add("--user-group");
        }
        else
        {
            if (accounts.FindGroup(group) is null) Run("groupadd", "--system", group);
            args.AddRange(["--gid", group]);
        }
        args.Add(user);
        Run("useradd", args.ToArray());
    }

    public static void Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed (exit {p.ExitCode}): {err.Trim()}");
    }
}
