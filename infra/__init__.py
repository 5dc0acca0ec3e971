"""costguard CDK app: settings, the Lambda factory, one construct per capability, the stack."""
