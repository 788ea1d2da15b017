using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Unix;

namespace ItkPs.Commands;

/// <summary>Common ground of the vhost cmdlets: the config root, look-ups and error records.</summary>
public abstract class ItkCmdlet : PSCmdlet
{
    /// <summary>The folder that holds itkps.conf and vhosts.d.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "$env:ITKPS_CONFIG_ROOT, else /etc/itkps")]
    public string? ConfigRoot { get; set; }

    protected IAccountDatabase Accounts => SystemAccounts.Instance;

    protected ConfigRoot Root => Core.Hosting.ConfigRoot.Resolve(ConfigRoot is null ? null : ResolvePath(ConfigRoot));

    /// <summary>A path as the user typed it, made absolute against the current PowerShell location.</summary>
    protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>Vhosts whose ServerName or one of whose ServerAlias names matches a wildcard pattern (all when null).</summary>
    protected static List<VirtualHost> FindVhosts(ServerConfig config, string? pattern)
    {
        if (string.IsNullOrEmpty(pattern)) return config.VirtualHosts.ToList();
        var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
        return config.VirtualHosts.Where(v => wc.IsMatch(v.Name) || v.Aliases.Any(wc.IsMatch)).ToList();
    }

    /// <summary>The one vhost with this exact ServerName; writes VhostNotFound and returns null otherwise.</summary>
    protected VirtualHost? FindOne(ServerConfig config, string name)
    {
        var vh = config.VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
        if (vh is null)
            WriteError(Errors.NotFound(ErrorIds.VhostNotFound, name,
                $"No vhost named '{name}' in {Path.GetDirectoryName(config.MainFile)}. Get-ItkVhost lists the vhosts there."));
        return vh;
    }

    /// <summary>Checks a user/group pair for AssignUserID: both exist and neither is root.</summary>
    protected bool CheckIdentity(string user, string group, object target)
    {
        var u = Accounts.FindUser(user);
        if (u is null)
        {
            WriteError(Errors.NotFound(ErrorIds.UserNotFound, target,
                $"User '{user}' does not exist. Create it first, e.g. with Set-ItkUser -User {user} -CreateUser."));
            return false;
        }
        var g = Accounts.FindGroup(group);
        if (g is null)
        {
            WriteError(Errors.NotFound(ErrorIds.GroupNotFound, target,
                $"Group '{group}' does not exist. Create it first (groupadd --system {group}) or omit -Group."));
            return false;
        }
        if (u.Uid == 0 || g.Gid == 0)
        {
            WriteError(Errors.InvalidArgument(ErrorIds.RootIdRefused, u.Uid == 0 ? "User" : "Group", target,
                $"'{user}:{group}' is uid/gid 0: a vhost never runs as root. Pick the site's own account."));
            return false;
        }
        return true;
    }

    /// <summary>-Group alone: AssignUserID names both, so it needs -User.</summary>
    protected ErrorRecord GroupNeedsUser(string group) =>
        Errors.InvalidArgument(ErrorIds.GroupNeedsUser, "Group", group, $"-Group {group} needs -User: AssignUserID names both the user and the group.");

    /// <summary>The group of a user's primary gid, for when -Group is not given.</summary>
    protected string PrimaryGroup(string user) =>
        Accounts.FindUser(user) is { } u && Accounts.FindGroup(u.Gid) is { } g ? g.Name : user;

    /// <summary>Writes a configuration file atomically, keeping the old one as .bak.</summary>
    protected bool TryWrite(string path, string text, object target)
    {
        try
        {
            AtomicFile.Write(path, text);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, target, $"Cannot write '{path}': {e.Message}", e));
            return false;
        }
    }

    /// <summary>Reads a vhost back from the config root after a change, for -PassThru.</summary>
    protected VhostInfo? ReadBack(string name) =>
        Root.Read().VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase)) is { } vh ? new VhostInfo(vh) : null;
}
