using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Isolation;
using ItkPs.Core.Unix;

namespace ItkPs.Commands;

/// <summary>
/// Set-ItkUser: makes a vhost run as a user (AssignUserID), optionally creating that user and
/// handing the DocumentRoot tree to it (owner user:group, dirs 0750, files 0640).
/// </summary>
[Cmdlet(VerbsCommon.Set, "ItkUser", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(PermissionChange), typeof(VirtualHost))]
public sealed class SetItkUserCommand : VhostTargetCmdlet
{
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    [ValidatePattern("^[a-z_][a-z0-9_-]*[$]?$")]
    public string User { get; set; } = "";

    [Parameter]
    [ValidatePattern("^[a-z_][a-z0-9_-]*[$]?$")]
    public string? Group { get; set; }

    /// <summary>Create the user (a system account, no login shell, no home) if it does not exist.</summary>
    [Parameter] public SwitchParameter CreateUser { get; set; }

    /// <summary>Make the DocumentRoot tree owned by the user and unreadable by others.</summary>
    [Parameter] public SwitchParameter FixPermissions { get; set; }

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var vh in Targets())
        {
            bool creating = CreateUser && Accounts.FindUser(User) is null;
            if (creating)
            {
                if (ShouldProcess(User, $"Create system user (group {Group ?? User}, shell {UserProvisioner.NoLoginShell}) for {vh.Name}"))
                {
                    try { UserProvisioner.CreateSystemUser(User, Group, vh.DocumentRoot, Accounts); }
                    catch (InvalidOperationException e)
                    {
                        WriteError(Error(ErrorIds.CreateUserFailed, ErrorCategory.InvalidOperation, User, e.Message, e));
                        continue;
                    }
                    creating = false;
                }
            }
            // Under -WhatIf the user may not exist yet; the rest is then only described.
            string group = Group ?? (creating ? User : PrimaryGroup(User));
            if (!creating && !CheckIdentity(User, group, vh)) continue;

            if (!(string.Equals(vh.AssignedUser, User) && string.Equals(vh.AssignedGroup, group)))
                if (!Edit(vh, $"Set AssignUserID {User} {group}", e => e.Set("AssignUserID", [User, group])) && !creating && !MyInvocation.BoundParameters.ContainsKey("WhatIf"))
                    continue;

            if (FixPermissions) Fix(vh, group, creating);
            if (PassThru && !creating) WriteObject(Reread(vh));
        }
    }

    private void Fix(VirtualHost vh, string group, bool userMissing)
    {
        if (vh.DocumentRoot is null || !Directory.Exists(vh.DocumentRoot))
        {
            WriteError(Error(ErrorIds.InvalidDocumentRoot, ErrorCategory.ObjectNotFound, vh,
                $"{vh.Name}: DocumentRoot '{vh.DocumentRoot}' does not exist; nothing to fix."));
            return;
        }
        if (!ShouldProcess(vh.DocumentRoot, $"Make the tree owned by {User}:{group}, directories 0750, files 0640 (0740 when executable)")) return;
        if (userMissing) return;
        try
        {
            var changes = PermissionFixer.Fix(vh.DocumentRoot, Accounts.FindUser(User)!, Accounts.FindGroup(group)!, Accounts, apply: true);
            WriteObject(changes, enumerateCollection: true);
        }
        catch (IOException e)
        {
            WriteError(Error(ErrorIds.FixPermissionsFailed, ErrorCategory.WriteError, vh.DocumentRoot, e.Message, e));
        }
    }
}
