using System.Collections;
using System.Management.Automation;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Builds httpd and httpd-itk RPMs with the mpm-itk recipe, using the real rpmbuild.</summary>
/// <remarks>
/// <para>Stages the spec's folder (or a source RPM) and the ten local ITK patches under a private _topdir, applies Edit-ItkSpec (either shape of httpd.spec: CentOS 5's mpmbuild lines or the %{mpms} loops of RHEL/CentOS 6 and Fedora; prefork is found in the staged Source0 tarball, and a tree without server/mpm/experimental is warned about), and runs rpmbuild -bb. Progress is shown by stage (%prep, %build, %install, %check, Wrote:) and the build log streams to -Verbose. Writes a file item for each RPM.</para>
/// <para>A failed build is an error (RpmBuildFailed) with the stage and the last log lines. Warns when %dist is undefined, since the RPMs would lose their dist tag, and when -Define sets the macro the MPM loops run over without itk (a spec that defers to it, %{!?mpms:...}, would then not build httpd.itk). A spec Edit-ItkSpec cannot edit is SpecAnchorMissing, a Source0 without prefork PreforkNotFound; nothing is built then. On hosts where /bin/sh is not bash, _buildshell is set to /bin/bash, as Red Hat specs expect.</para>
/// </remarks>
/// <example>
/// <code>Build-ItkRpm -SourceRpm httpd-2.2.3-91.el5.centos.src.rpm -ItkPatchPath ./itk-patches -Define @{ dist = '.el5.centos' }</code>
/// <para>Builds the distribution's httpd with httpd-itk and lists the RPM files.</para>
/// </example>
/// <example>
/// <code>Build-ItkRpm -SourceRpm httpd-2.2.15-69.el6.centos.src.rpm -ItkPatchPath ./itk-patches -Define @{ dist = '.el6.centos' } -Verbose</code>
/// <para>CentOS 6: itk joins %{mpms}, so the spec's own loops build, install and check it; the verbose log shows the edits, where prefork was found and where itk goes, and the rpmbuild output.</para>
/// </example>
/// <seealso cref="EditItkSpecCommand"/>
/// <seealso cref="EnableItkHttpdCommand"/>
[Cmdlet(VerbsLifecycle.Build, "ItkRpm", SupportsShouldProcess = true, DefaultParameterSetName = "Spec")]
[OutputType(typeof(FileInfo))]
public sealed class BuildItkRpmCommand : SpecCmdlet
{
    /// <summary>The httpd.spec; the other files in its folder are its sources.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Spec")]
    [ValidateNotNullOrEmpty]
    public string SpecPath { get; set; } = "";

    /// <summary>An httpd source RPM to unpack and build instead of -SpecPath.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "SourceRpm")]
    [ValidateNotNullOrEmpty]
    public string SourceRpm { get; set; } = "";

    /// <summary>A folder with the ten ITK patches (02-rename-prefork-to-itk.patch ... 11-fix-htaccess-reads-for-persistent-connections.patch). Nothing is downloaded.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string ItkPatchPath { get; set; } = "";

    /// <summary>The rpmbuild _topdir.</summary>
    [Parameter]
    [PSDefaultValue(Help = "a new folder under the temporary directory")]
    public string? TopDir { get; set; }

    /// <summary>RPM macros as a hashtable, e.g. @{ dist = '.el5.centos' }.</summary>
    [Parameter]
    [PSDefaultValue(Help = "none")]
    public Hashtable Define { get; set; } = new();

    /// <summary>Passes --nodeps (for hosts whose RPM database does not list the BuildRequires).</summary>
    [Parameter] public SwitchParameter NoDeps { get; set; }

    protected override void EndProcessing()
    {
        var editor = Editor;
        string patches = ResolvePath(ItkPatchPath);
        string input = ParameterSetName == "Spec" ? ResolvePath(SpecPath) : ResolvePath(SourceRpm);
        if (!File.Exists(input))
            ThrowTerminatingError(Errors.FileNotFound(ErrorIds.SpecNotFound, input, $"'{input}' does not exist."));
        var missing = Directory.Exists(patches) ? RpmBuilder.MissingPatches(patches, editor) : editor.Series.Select(s => s.File).ToList();
        if (missing.Count > 0)
            ThrowTerminatingError(Errors.FileNotFound(ErrorIds.ItkPatchMissing, patches,
                $"-ItkPatchPath '{patches}' lacks {string.Join(", ", missing)}. Put the whole mpm-itk {ItkVersion} series there (nothing is downloaded)."));

        var defines = Define.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? "");
        string? topDir = TopDir is null ? null : ResolvePath(TopDir);
        if (!ShouldProcess(input, $"rpmbuild -bb with mpm-itk {ItkVersion} under {topDir ?? "a new temporary _topdir"}")) return;
        if (RpmBuilder.DistUndefined(defines))
            WriteWarning("%dist is not defined (no /etc/rpm/macros.disttag here): the RPMs lose their dist tag. Pass the distribution's tag to keep it, e.g. -Define @{ dist = '.el5.centos' } or @{ dist = '.el6' }.");
        topDir ??= Directory.CreateTempSubdirectory("itkps-rpmbuild-").FullName;

        var request = new RpmBuildRequest
        {
            SpecPath = ParameterSetName == "Spec" ? input : null,
            SourceRpm = ParameterSetName == "SourceRpm" ? input : null,
            ItkPatchPath = patches, TopDir = topDir, Defines = defines, NoDeps = NoDeps, Editor = editor,
        };
        var progress = new ProgressRecord(1, "Build-ItkRpm", "staging sources and ITK patches");
        WriteProgress(progress);
        try
        {
            var (spec, edit) = RpmBuilder.Stage(request, WriteVerbose);
            WarnWhenTheTreeHasNoExperimental(edit);
            // A macro given on the command line can stand in for the spec's own definition
            // (%{!?mpms:%global mpms ...}); without itk the loops would leave itk out.
            foreach (var m in edit.LoopMacros.Where(m => defines.TryGetValue(m, out var v) && !v.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("itk")))
                WriteWarning($"-Define sets {m} = '{defines[m]}' without itk; where the spec defers to it ({m} is what its MPM loops run over), httpd.itk is not built. Add itk to it.");
            var written = RpmBuilder.Build(request, spec, WriteVerbose, stage =>
            {
                int i = RpmBuilder.Stages.ToList().IndexOf(stage);
                progress.StatusDescription = stage == "Wrote:" ? "writing RPMs" : $"rpmbuild {stage}";
                progress.PercentComplete = (i + 1) * 100 / (RpmBuilder.Stages.Count + 1);
                WriteProgress(progress);
            });
            // As the FileSystem provider's items (what Get-Item writes), so they show as Get-ChildItem shows files.
            foreach (var rpm in written) WriteObject(InvokeProvider.Item.Get(rpm), enumerateCollection: true);
        }
        catch (RpmBuildException e)
        {
            WriteError(Errors.Failed(ErrorIds.RpmBuildFailed, ErrorCategory.InvalidResult, input, e,
                $"rpmbuild failed in {e.Stage}; see the last lines below or -Verbose.{Environment.NewLine}{string.Join(Environment.NewLine, e.LastLines)}"));
        }
        catch (SpecAnchorException e)
        {
            WriteError(Errors.Failed(ErrorIds.SpecAnchorMissing, ErrorCategory.ObjectNotFound, input, e));
        }
        catch (SourceTreeException e)
        {
            WriteError(Errors.Failed(ErrorIds.PreforkNotFound, ErrorCategory.ObjectNotFound, e.TreePath, e));
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
    }
}
