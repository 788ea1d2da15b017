using System.Collections;
using System.Management.Automation;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>
/// Build-ItkRpm: edits the spec for mpm-itk, stages the local ITK patches and runs the real
/// rpmbuild -bb under a private _topdir. Writes the RPM files as FileInfo objects.
/// </summary>
[Cmdlet(VerbsLifecycle.Build, "ItkRpm", SupportsShouldProcess = true, DefaultParameterSetName = "Spec")]
[OutputType(typeof(FileInfo))]
public sealed class BuildItkRpmCommand : SpecCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Spec")]
    [ValidateNotNullOrEmpty]
    public string SpecPath { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "SourceRpm")]
    [ValidateNotNullOrEmpty]
    public string SourceRpm { get; set; } = "";

    /// <summary>A folder holding the ten ITK patches (02-… to 11-….patch); nothing is downloaded.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string ItkPatchPath { get; set; } = "";

    /// <summary>The rpmbuild _topdir. Default: a new folder under the temporary directory.</summary>
    [Parameter]
    public string? TopDir { get; set; }

    /// <summary>RPM macros, e.g. @{ dist = '.el5.centos' }.</summary>
    [Parameter]
    public Hashtable Define { get; set; } = new();

    [Parameter] public SwitchParameter NoDeps { get; set; }


    protected override void EndProcessing()
    {
        string Resolve(string p) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
        var editor = Editor;
        string patches = Resolve(ItkPatchPath);
        string input = ParameterSetName == "Spec" ? Resolve(SpecPath) : Resolve(SourceRpm);
        if (!File.Exists(input))
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"'{input}' does not exist.", input), "SpecNotFound", ErrorCategory.ObjectNotFound, input));
        var missing = Directory.Exists(patches) ? RpmBuilder.MissingPatches(patches, editor) : editor.Series.Select(s => s.File).ToList();
        if (missing.Count > 0)
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"-ItkPatchPath '{patches}' lacks {string.Join(", ", missing)}. Put the whole mpm-itk {ItkVersion} series there (nothing is downloaded)."),
                "ItkPatchMissing", ErrorCategory.ObjectNotFound, patches));

        var defines = Define.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? "");
        if (RpmBuilder.DistUndefined(defines))
            WriteWarning("%dist is not defined (no /etc/rpm/macros.disttag here): the RPMs lose their dist tag. Pass the distribution's tag to keep it, e.g. -Define @{ dist = '.el5.centos' } or @{ dist = '.el6' }.");

        string topDir = TopDir is null ? Directory.CreateTempSubdirectory("itkps-rpmbuild-").FullName : Resolve(TopDir);
        if (!ShouldProcess(input, $"rpmbuild -bb with mpm-itk {ItkVersion} under {topDir}")) return;

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
            foreach (var rpm in written) WriteObject(new FileInfo(rpm));
        }
        catch (RpmBuildException e)
        {
            WriteError(new ErrorRecord(e, "RpmBuildFailed", ErrorCategory.InvalidResult, input) { ErrorDetails = new ErrorDetails($"rpmbuild failed in {e.Stage}; see the last lines below or -Verbose.{Environment.NewLine}{string.Join(Environment.NewLine, e.LastLines)}") });
        }
        catch (SpecAnchorException e)
        {
            WriteError(new ErrorRecord(e, "SpecAnchorMissing", ErrorCategory.ObjectNotFound, input));
        }
        catch (SourceTreeException e)
        {
            WriteError(new ErrorRecord(e, "PreforkNotFound", ErrorCategory.ObjectNotFound, e.TreePath));
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
    }
}
