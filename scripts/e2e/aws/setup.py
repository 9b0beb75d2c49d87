#!/usr/bin/env python3
"""Creates, in moto, what a deployment's infrastructure code creates besides the table and the
bucket (which `stowage aws init` makes): a Cognito user pool with an app client and two
confirmed users, and the SQS queue of domain events. Prints what the test needs as JSON.

    setup.py MOTO_URL
"""
import json
import sys

import boto3

url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
idp = boto3.client("cognito-idp", **kw)
sqs = boto3.client("sqs", **kw)
flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
pool = idp.create_user_pool(PoolName="stowage")["UserPool"]["Id"]
client = idp.create_user_pool_client(UserPoolId=pool, ClientName="registry",
                                     ExplicitAuthFlows=flows)["UserPoolClient"]["ClientId"]
users = {"alice": "Alice-pass-123", "bruno": "Bruno-pass-123"}
for name, password in users.items():
    idp.admin_create_user(UserPoolId=pool, Username=name, TemporaryPassword="Temp-pass-1",
                          UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=password,
                                Permanent=True)
queue = sqs.create_queue(QueueName="stowage-events")["QueueUrl"]
print(json.dumps({"pool": pool, "client": client, "queue": queue, "users": users}))
