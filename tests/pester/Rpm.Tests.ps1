# The mpm-itk RPM recipe with the real rpmbuild: tiny httpd-shaped packages (a distribution
# security patch to prefork, the extra MPMs built, installed and checked the CentOS 5 way
# with one mpmbuild line each, or the RHEL/CentOS 6 way in loops over %{mpms}) and stand-in
# ITK patches that apply to them.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Fixture = Join-Path $PSScriptRoot 'fixtures/tiny-httpd'
    $script:LoopFixture = Join-Path $PSScriptRoot 'fixtures/tiny-httpd-loop'
    $script:ItkPatches = Join-Path $Fixture 'itk-patches'
    $script:Base = New-TestRoot
    # What-if lines go to the host, so a pwsh of its own shows what a user sees; an object
    # written to the pipeline shows as OBJECT.
    function Get-WhatIf([string] $Command) {
        & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$env:ITKPS_MODULE_PATH'; $Command | ForEach-Object { 'OBJECT' }"
    }
    # A folder as an operator has it: the spec, the distribution's patch, the Source0 tarball.
    function New-SpecFolder([string] $Name, [string] $From = $Fixture) {
        $dir = Join-Path $Base $Name
        New-Item -ItemType Directory $dir | Out-Null
        Copy-Item (Join-Path $From 'httpd.spec'), (Join-Path $From 'httpd-*-CVE-*.patch') $dir
        $tree = (Get-ChildItem -Directory $From -Filter 'httpd-2.2.*').Name
        tar -C $From -czf (Join-Path $dir "$tree.tar.gz") $tree
        $dir
    }
}

AfterAll { Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue }


Describe 'Edit-ItkSpec' {
    It '-WhatIf shows the diff in its What-if line, writes nothing and returns nothing' {
        $dir = New-SpecFolder 'whatif'
        $before = Get-TreeSnapshot $dir
        # What-if lines go to the host, so a pwsh of its own shows what a user sees.
        $seen = Get-WhatIf "Edit-ItkSpec -Path '$dir/httpd.spec' -WhatIf"
        ($seen -join "`n") | Should -Match 'What if: Performing the operation "Apply 8 mpm-itk edit\(s\):'
        ($seen -join "`n") | Should -Match '(?m)^\+%package -n httpd-itk'
        $seen | Should -Not -Contain 'OBJECT'
        Get-TreeSnapshot $dir | Should -Be $before
    }

    It 'edits in place keeping a .bak, then reports the spec as already edited' {
        $dir = New-SpecFolder 'inplace'
        $original = Get-Content -Raw "$dir/httpd.spec"
        (Edit-ItkSpec -Path "$dir/httpd.spec").Applied.Count | Should -Be 8
        Get-Content -Raw "$dir/httpd.spec.bak" | Should -Be $original
        $again = Edit-ItkSpec -Path "$dir/httpd.spec" -Verbose 4>&1
        $again | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] } | Should -BeNullOrEmpty -Because 'an edited spec is left alone and only -Verbose says so'
        ($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain "$dir/httpd.spec already has every mpm-itk edit; nothing to change." 
        & rpmspec -P "$dir/httpd.spec" *> $null
        $LASTEXITCODE | Should -Be 0
    }

    It 'names the missing anchor and writes nothing' {
        $dir = New-SpecFolder 'broken'
        (Get-Content -Raw "$dir/httpd.spec") -replace 'mpmbuild worker', 'mpmbuild nothing' | Set-Content "$dir/httpd.spec" -NoNewline
        $before = Get-TreeSnapshot $dir
        Edit-ItkSpec -Path "$dir/httpd.spec" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SpecAnchorMissing,*'
        $err[0].Exception.Message | Should -Match "mpmbuild worker.*nearest line \d+"
        Get-TreeSnapshot $dir | Should -Be $before
    }
}

Describe 'Build-ItkRpm (real rpmbuild)' {
    BeforeAll {
        $script:Dir = New-SpecFolder 'build'
        $script:Top = Join-Path $Base 'top'
        $script:Rpms = Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir $Top -NoDeps `
            -Verbose -WarningVariable script:Warnings 4> (Join-Path $Base 'build.log')
        $script:Log = Get-Content (Join-Path $Base 'build.log')
    }

    It 'writes httpd and httpd-itk RPMs as FileInfo objects' {
        $Rpms | ForEach-Object { $_ | Should -BeOfType System.IO.FileInfo; $_.Exists | Should -BeTrue }
        $Rpms.Name | Should -Contain 'httpd-2.2.3-91.x86_64.rpm'
        $Rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.x86_64.rpm'
    }

    It 'puts /usr/sbin/httpd.itk in httpd-itk, and not in httpd' {
        rpm -qlp ($Rpms | Where-Object Name -like 'httpd-itk-*').FullName | Should -Contain '/usr/sbin/httpd.itk'
        rpm -qlp ($Rpms | Where-Object Name -like 'httpd-2*').FullName | Should -Not -Contain '/usr/sbin/httpd.itk'
    }

    It 'ran the %check loop over itk, with the distribution security fix in itk' {
        $Log | Should -Contain 'check-mpm: itk: mpm: itk; security: CVE-0000-0001 fixed'
        $Log | Should -Contain 'check-mpm: worker: mpm: worker; security: unpatched'
    }

    It 'ships an httpd.itk built from the patched prefork' {
        $x = Join-Path $Base 'extract'
        New-Item -ItemType Directory $x | Out-Null
        Push-Location $x
        try { rpm2cpio ($Rpms | Where-Object Name -like 'httpd-itk-*').FullName | cpio -idm 2>$null } finally { Pop-Location }
        & "$x/usr/sbin/httpd.itk" | Should -Be 'mpm: itk; security: CVE-0000-0001 fixed'
        # rpmbuild cleans BUILD after success; the log shows each ITK patch being applied.
        @($Log | Where-Object { $_ -match '^Patch #4(0[2-9]|1[01]) \(' }).Count | Should -Be 10
    }

    It 'warned that %dist is undefined, and keeps it when defined' {
        $Warnings | Should -Match '%dist is not defined'
        $more = Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-dist') -NoDeps -Define @{ dist = '.el5.centos' } -WarningVariable w
        $w | Should -BeNullOrEmpty
        $more.Name | Should -Contain 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm'
    }

    It 'builds from a source RPM too' {
        $srcTop = Join-Path $Base 'srpm-top'
        foreach ($d in 'SOURCES', 'SPECS', 'SRPMS') { New-Item -ItemType Directory -Force "$srcTop/$d" | Out-Null }
        Copy-Item "$Dir/httpd-2.2.3.tar.gz", "$Dir/httpd-2.2.3-CVE-0000-0001.patch" "$srcTop/SOURCES"
        & rpmbuild -bs --nodeps --define "_topdir $srcTop" (Join-Path $Fixture 'httpd.spec') *> $null
        $LASTEXITCODE | Should -Be 0
        $srpm = Get-ChildItem "$srcTop/SRPMS" -Filter '*.src.rpm' | Select-Object -First 1
        $rpms = Build-ItkRpm -SourceRpm $srpm.FullName -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-srpm') -NoDeps -WarningAction SilentlyContinue
        $rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.x86_64.rpm'
        rpm -qlp ($rpms | Where-Object Name -like 'httpd-itk-*').FullName | Should -Contain '/usr/sbin/httpd.itk'
    }

    It 'refuses an incomplete ITK patch folder before building' {
        $partial = Join-Path $Base 'partial-patches'
        New-Item -ItemType Directory $partial | Out-Null
        Copy-Item (Join-Path $Fixture 'itk-patches/02-rename-prefork-to-itk.patch') $partial
        { Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath $partial -NoDeps -ErrorAction Stop } |
            Should -Throw -ErrorId 'ItkPatchMissing,ItkPs.Commands.BuildItkRpmCommand'
    }

    It 'reports a failed build with its stage and the end of the log' {
        $bad = New-SpecFolder 'failing'
        (Get-Content -Raw "$bad/httpd.spec") -replace '(?m)^make$', "make`nfalse # broken on purpose" | Set-Content "$bad/httpd.spec" -NoNewline
        Build-ItkRpm -SpecPath "$bad/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-bad') -NoDeps -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RpmBuildFailed,*'
        $err[0].Exception.Stage | Should -Be '%build'
        $err[0].Exception.LastLines -join "`n" | Should -Match 'Bad exit status'
    }
}

Describe 'Edit-ItkSpec, loop shape (%{mpms})' {
    It '-WhatIf shows the diff, itk added to %define mpms, and writes nothing' {
        $dir = New-SpecFolder 'loop-whatif' $LoopFixture
        $before = Get-TreeSnapshot $dir
        $seen = Get-WhatIf "Edit-ItkSpec -Path '$dir/httpd.spec' -WhatIf"
        ($seen -join "`n") | Should -Match '(?m)^\+%define mpms worker event itk$'
        ($seen -join "`n") | Should -Match '(?m)^\+%package -n httpd-itk$'
        ($seen -join "`n") | Should -Match 'this tree has no server/mpm/experimental' -Because 'the layout note is part of the What-if line'
        $seen | Should -Not -Contain 'OBJECT'
        Get-TreeSnapshot $dir | Should -Be $before
    }

    It 'edits in place, finds prefork in the Source0 beside the spec and says where itk goes; a second run changes nothing' {
        $dir = New-SpecFolder 'loop-inplace' $LoopFixture
        $result = Edit-ItkSpec -Path "$dir/httpd.spec" -WarningVariable w
        $result.Applied | Should -Be @('Patch tags', '%package httpd-itk', '%prep itk copy', 'itk in %{mpms}', '%files httpd-itk')
        # This main %files lists each binary, so it does not take httpd.itk and needs no %exclude.
        $result.NotNeeded | Should -Match '^%exclude httpd.itk'
        $result.PreforkDirectory | Should -Be 'server/mpm/unix/prefork'
        $result.ItkDirectory | Should -Be 'server/mpm/experimental/itk'
        $w | Should -Match 'itk goes to server/mpm/experimental/itk, created in %prep \(this tree has no server/mpm/experimental'
        Get-Content "$dir/httpd.spec" | Should -Contain 'cp server/mpm/unix/prefork/* server/mpm/experimental/itk/'
        Edit-ItkSpec -Path "$dir/httpd.spec" -WarningAction SilentlyContinue | Should -BeNullOrEmpty -Because 'an edited spec is left alone'
        $again = Edit-ItkSpec -Path "$dir/httpd.spec" -OutFile "$dir/again.spec" -WarningAction SilentlyContinue
        $again.Changed | Should -BeFalse
        $again.AlreadyPresent | Should -Be $result.Applied
        $loops = rpmspec -P "$dir/httpd.spec" | Where-Object { $_ -match '^for \w+ in ' }
        $loops | Should -Be @('for f in worker event itk; do', 'for f in worker event itk; do', 'for mpm in worker event itk; do')
    }

    It '-SourcePath reads the tree when Source0 is not beside the spec; one without prefork is refused and nothing is written' {
        $dir = New-SpecFolder 'loop-source' $LoopFixture
        $specOnly = Join-Path $Base 'loop-spec-only'
        New-Item -ItemType Directory $specOnly | Out-Null
        Copy-Item "$dir/httpd.spec" $specOnly
        $result = Edit-ItkSpec -Path "$specOnly/httpd.spec" -SourcePath "$dir/httpd-2.2.15.tar.gz" -OutFile "$specOnly/edited.spec" -WarningAction SilentlyContinue
        $result.PreforkDirectory | Should -Be 'server/mpm/unix/prefork'
        # Without the tree the upstream layout is assumed, and said.
        (Edit-ItkSpec -Path "$specOnly/httpd.spec" -WhatIf -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message |
            Should -Contain 'prefork: server/mpm/prefork (assumed, no source tree read); itk goes to server/mpm/experimental/itk'

        New-Item -ItemType Directory "$Base/no-prefork/server/mpm/worker" -Force | Out-Null
        $before = Get-TreeSnapshot $specOnly
        Edit-ItkSpec -Path "$specOnly/httpd.spec" -SourcePath "$Base/no-prefork" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PreforkNotFound,*'
        Edit-ItkSpec -Path "$specOnly/httpd.spec" -SourcePath "$Base/absent.tar.gz" -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err2[0].FullyQualifiedErrorId | Should -BeLike 'SourceNotFound,*'
        Get-TreeSnapshot $specOnly | Should -Be $before
    }

    It 'a spec with neither shape is SpecAnchorMissing naming the anchor and the nearest line, and nothing is written' {
        $dir = New-SpecFolder 'loop-broken' $LoopFixture
        (Get-Content -Raw "$dir/httpd.spec") -replace '(?m)^for f in %\{mpms\}; do\n   mpmbuild \$f --enable-modules=none\ndone\n', '' | Set-Content "$dir/httpd.spec" -NoNewline
        $before = Get-TreeSnapshot $dir
        Edit-ItkSpec -Path "$dir/httpd.spec" -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SpecAnchorMissing,*'
        $err[0].Exception.Message | Should -Match "'mpmbuild worker' in %build, or a loop .*; nearest line \d+: 'mpmbuild prefork --enable-mods-shared=all'"
        Get-TreeSnapshot $dir | Should -Be $before
    }
}

Describe 'Build-ItkRpm, loop shape (real rpmbuild)' {
    BeforeAll {
        $script:LoopDir = New-SpecFolder 'loop-build' $LoopFixture
        $script:LoopRpms = Build-ItkRpm -SpecPath "$LoopDir/httpd.spec" -ItkPatchPath $ItkPatches -TopDir (Join-Path $Base 'loop-top') -NoDeps -Define @{ dist = '.el6' } `
            -Verbose -WarningVariable script:LoopWarnings 4> (Join-Path $Base 'loop-build.log')
        $script:LoopLog = Get-Content (Join-Path $Base 'loop-build.log')
    }

    It 'writes httpd, httpd-itk and mod_ssl RPMs' {
        $LoopRpms.Name | Sort-Object | Should -Be @('httpd-2.2.15-69.el6.x86_64.rpm', 'httpd-itk-2.2.15-69.el6.x86_64.rpm', 'mod_ssl-2.2.15-69.el6.x86_64.rpm')
    }

    It 'puts /usr/sbin/httpd.itk in httpd-itk, and not in httpd (whose %files lists each binary)' {
        rpm -qlp ($LoopRpms | Where-Object Name -like 'httpd-itk-*').FullName | Should -Contain '/usr/sbin/httpd.itk'
        $main = rpm -qlp ($LoopRpms | Where-Object Name -like 'httpd-2*').FullName
        $main | Should -Not -Contain '/usr/sbin/httpd.itk'
        $main | Should -Contain '/usr/sbin/httpd.event'
    }

    It 'ran the %check loop over itk, which carries the distribution security fix, and over the untouched MPMs' {
        $LoopLog | Should -Contain 'check-mpm: itk: mpm: itk; security: CVE-0000-0002 fixed'
        $LoopLog | Should -Contain 'check-mpm: worker: mpm: worker; security: unpatched'
        $LoopLog | Should -Contain 'check-mpm: event: mpm: event; security: unpatched'
        @($LoopLog | Where-Object { $_ -match '^Patch #4(0[2-9]|1[01]) \(' }).Count | Should -Be 10
    }

    It 'copied prefork from where this tree keeps it into a new server/mpm/experimental/itk, and said so' {
        $LoopLog | Should -Contain '+ mkdir -p server/mpm/experimental/itk/'
        $LoopLog | Where-Object { $_ -like '+ cp server/mpm/unix/prefork/prefork.c *' } | Should -Not -BeNullOrEmpty
        $LoopWarnings | Should -HaveCount 1
        $LoopWarnings[0] | Should -Match '^prefork: server/mpm/unix/prefork \(in httpd-2.2.15.tar.gz\); itk goes to server/mpm/experimental/itk, created in %prep'
    }

    It 'warns when -Define gives the loop macro without itk to a spec that defers to it (and then httpd.itk is missing)' {
        $dir = New-SpecFolder 'loop-defer' $LoopFixture
        (Get-Content -Raw "$dir/httpd.spec") -replace '(?m)^%define mpms worker event$', '%{!?mpms:%define mpms worker event}' | Set-Content "$dir/httpd.spec" -NoNewline
        Build-ItkRpm -SpecPath "$dir/httpd.spec" -ItkPatchPath $ItkPatches -TopDir (Join-Path $Base 'loop-defer-top') -NoDeps -Define @{ dist = '.el6'; mpms = 'worker event' } `
            -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        ($w -join "`n") | Should -Match "-Define sets mpms = 'worker event' without itk"
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RpmBuildFailed,*'
        $err[0].Exception.LastLines -join "`n" | Should -Match 'File not found: .*/usr/sbin/httpd\.itk'
    }
}

Describe 'examples/build-itk-rpm.ps1' {
    It 'runs the recipe end to end on the spec and leaves the RPMs in -OutDir' {
        $dir = New-SpecFolder 'runbook'
        $out = Join-Path $Base 'runbook-rpms'
        $rpms = & (Join-Path $PSScriptRoot '../../examples/build-itk-rpm.ps1') -SpecPath "$dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -NoDeps -OutDir $out 6>$null
        $rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm'
        Join-Path $out 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm' | Should -Exist
    }
}

Describe 'Enable-ItkHttpd / Disable-ItkHttpd' {
    BeforeAll {
        $script:HostRoot = Join-Path $Base 'host'
        New-Item -ItemType Directory -Force "$HostRoot/etc/sysconfig", "$HostRoot/etc/httpd/conf.d" | Out-Null
        $script:Sys = "# The service must be stopped before changing this variable.`n#`n#HTTPD=/usr/sbin/httpd.worker`n"
        $script:Php = "<IfModule prefork.c>`n  LoadModule php5_module modules/libphp5.so`n</IfModule>`n<IfModule worker.c>`n  LoadModule php5_module modules/libphp5-zts.so`n</IfModule>`n"
        Set-Content "$HostRoot/etc/sysconfig/httpd" $Sys -NoNewline
        Set-Content "$HostRoot/etc/httpd/conf.d/php.conf" $Php -NoNewline
    }

    It '-WhatIf changes nothing' {
        $before = Get-TreeSnapshot $HostRoot
        Enable-ItkHttpd -Root $HostRoot -WhatIf | Out-Null
        Get-TreeSnapshot $HostRoot | Should -Be $before
    }

    It 'switches sysconfig and php.conf, keeping backups, and is idempotent' {
        $edits = Enable-ItkHttpd -Root $HostRoot
        $edits.Changed | Should -Be @($true, $true)
        Get-Content "$HostRoot/etc/sysconfig/httpd" | Should -Contain 'HTTPD=/usr/sbin/httpd.itk'
        Get-Content "$HostRoot/etc/httpd/conf.d/php.conf" | Should -Contain '<IfModule !worker.c>'
        Get-Content -Raw "$HostRoot/etc/sysconfig/httpd.bak" | Should -Be $Sys
        Enable-ItkHttpd -Root $HostRoot | Should -BeNullOrEmpty -Because 'nothing is left to change' 
    }

    It 'Disable-ItkHttpd restores both files' {
        Disable-ItkHttpd -Root $HostRoot | Out-Null
        Get-Content -Raw "$HostRoot/etc/sysconfig/httpd" | Should -Be $Sys
        Get-Content -Raw "$HostRoot/etc/httpd/conf.d/php.conf" | Should -Be $Php
    }
}

Describe 'New-ItkModuleSpec (httpd 2.4)' {
    It 'writes a spec rpmspec accepts and rpmbuild turns into mod_mpm_itk.so with 00-mpm-itk.conf' {
        $dir = Join-Path $Base 'module'
        New-Item -ItemType Directory $dir | Out-Null
        $files = New-ItkModuleSpec -Path "$dir/httpd-itk.spec"
        $files.Name | Should -Be @('httpd-itk.spec', '00-mpm-itk.conf')
        & rpmspec -P "$dir/httpd-itk.spec" *> $null
        $LASTEXITCODE | Should -Be 0
        tar -C (Join-Path $PSScriptRoot 'fixtures/mpm-itk-2.4') -czf "$dir/mpm-itk-2.4.7-04.tar.gz" mpm-itk-2.4.7-04
        $top = Join-Path $Base 'module-top'
        foreach ($d in 'SOURCES', 'SPECS', 'BUILD', 'RPMS') { New-Item -ItemType Directory -Force "$top/$d" | Out-Null }
        Copy-Item "$dir/mpm-itk-2.4.7-04.tar.gz", "$dir/00-mpm-itk.conf" "$top/SOURCES"
        $log = & rpmbuild -bb --nodeps --define "_topdir $top" --define '_buildshell /bin/bash' "$dir/httpd-itk.spec" 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($log | Select-Object -Last 15 | Out-String)
        $rpm = Get-ChildItem "$top/RPMS" -Recurse -Filter 'httpd-itk-2.4.7.04-1*.rpm' | Select-Object -First 1
        $list = rpm -qlp $rpm.FullName
        $list | Should -Contain '/usr/lib64/httpd/modules/mod_mpm_itk.so' -Because ($list -join ' ')
        $list | Should -Contain '/etc/httpd/conf.modules.d/00-mpm-itk.conf'
    }
}
