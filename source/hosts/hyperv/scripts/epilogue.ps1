try {
	$P = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdParams)) | ConvertFrom-Json
	Assert-RdHyperV
	# Only the body's last output is its result: a stray object written earlier cannot leak in.
	$rdOutput = @(Invoke-RdBody $P)
	$rdData = $null
	if ($rdOutput.Count -gt 0) { $rdData = $rdOutput[$rdOutput.Count - 1] }
	Write-RdEnvelope $true $rdData $null
} catch {
	$rdException = $_.Exception
	$rdCode = 'ERROR'
	if ($rdException.Data.Contains('rdCode')) {
		$rdCode = [string]$rdException.Data['rdCode']
	} elseif ($rdException -is [System.UnauthorizedAccessException] -or $_.CategoryInfo.Category.ToString() -eq 'PermissionDenied') {
		$rdCode = 'ACCESS_DENIED'
	} elseif ($rdException -is [System.Management.Automation.CommandNotFoundException]) {
		$rdCode = 'COMMAND_NOT_FOUND'
	} elseif ($rdException.HResult -eq -2147024784 -or $rdException.HResult -eq -2147024857) {
		$rdCode = 'NO_SPACE'
	}
	$rdFailure = New-Object -TypeName PSObject -Property @{
		code = $rdCode
		message = $rdException.Message
		type = $rdException.GetType().FullName
		category = $_.CategoryInfo.Category.ToString()
		at = $_.InvocationInfo.PositionMessage
	}
	Write-RdEnvelope $false $null $rdFailure
}
