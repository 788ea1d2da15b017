using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Set-ItkVhost: changes directives of existing vhosts, keeping the rest of their files.</summary>
[Cmdlet(VerbsCommon.Set, "ItkVhost", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(VirtualHost))]
public sealed class SetItkVhostCommand : VhostTargetCmdlet
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? DocumentRoot { get; set; }

    /// <summary>Replaces the aliases; an empty array removes them.</summary>
    [Parameter]
    [Alias("ServerAlias")]
    [AllowEmptyCollection]
    public string[]? Alias { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    public string? User { get; set; }

    [Parameter]
    public string? Group { get; set; }

    /// <summary>0 removes the limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? MaxClients { get; set; }

    [Parameter]
    [ValidateRange(-20, 19)]
    public int? Nice { get; set; }

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var a in Alias ?? [])
        {
            if (Core.Hosting.ConfigRoot.IsValidAlias(a)) continue;
            WriteError(Error(ErrorIds.InvalidAlias, ErrorCategory.InvalidArgument, a, $"-Alias '{a}' is not a host name or a wildcard like *.example.com."));
            return;
        }
        if (Group is not null && User is null)
        {
            WriteError(Error(ErrorIds.UserNotFound, ErrorCategory.InvalidArgument, Group, "-Group needs -User: AssignUserID names both."));
            return;
        }
        foreach (var vh in Targets())
        {
            var changes = new List<string>();
            string? group = User is null ? null : Group ?? PrimaryGroup(User);
            if (User is not null && !CheckIdentity(User, group!, vh)) continue;
            string? docRoot = DocumentRoot is null ? null : ResolvePath(DocumentRoot);
            if (docRoot is not null && !Directory.Exists(docRoot))
                WriteWarning($"DocumentRoot '{docRoot}' does not exist yet; create it before the vhost is served.");

            bool ok = Edit(vh, Describe(docRoot, group), e =>
            {
                if (docRoot is not null)
                {
                    e.Set("DocumentRoot", [docRoot]);
                    if (vh.DocumentRoot is not null) e.RenameDirectory(vh.DocumentRoot, docRoot);
                }
                if (Alias is not null) e.Set("ServerAlias", Alias.Length == 0 ? null : Alias);
                if (User is not null) e.Set("AssignUserID", [User, group!]);
                if (MaxClients is int mc) e.Set("MaxClientsVHost", mc == 0 ? null : [mc.ToString()]);
                if (Nice is int n) e.Set("NiceValue", [n.ToString()]);
            });
            if (ok && PassThru) WriteObject(Reread(vh));
        }
    }

    private string Describe(string? docRoot, string? group)
    {
        var parts = new List<string>();
        if (docRoot is not null) parts.Add($"DocumentRoot {docRoot}");
        if (Alias is not null) parts.Add(Alias.Length == 0 ? "no ServerAlias" : $"ServerAlias {string.Join(' ', Alias)}");
        if (User is not null) parts.Add($"AssignUserID {User} {group}");
        if (MaxClients is int mc) parts.Add(mc == 0 ? "no MaxClientsVHost" : $"MaxClientsVHost {mc}");
        if (Nice is int n) parts.Add($"NiceValue {n}");
        return parts.Count == 0 ? "Update vhost (nothing to change)" : "Set " + string.Join(", ", parts);
    }
}
